import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SafeHtml, escapeHtml, html } from '../../../src/watch-log/viewer/html.ts';

describe('escapeHtml', () => {
  const cases: ReadonlyArray<{ name: string; value: unknown; want: string }> = [
    { name: 'script element', value: '<script>alert(1)</script>', want: '&lt;script&gt;alert(1)&lt;/script&gt;' },
    { name: 'double-quoted attribute breakout', value: '"><img src=x onerror=alert(1)>', want: '&quot;&gt;&lt;img src=x onerror=alert(1)&gt;' },
    { name: 'single-quoted attribute breakout', value: "' onmouseover='alert(1)", want: '&#39; onmouseover=&#39;alert(1)' },
    { name: 'closing tag then markup', value: '</td></tr><tr><td>x', want: '&lt;/td&gt;&lt;/tr&gt;&lt;tr&gt;&lt;td&gt;x' },
    { name: 'an entity is escaped again (it is text)', value: '&lt;b&gt;', want: '&amp;lt;b&amp;gt;' },
    { name: 'ampersand', value: 'Tom & Jerry', want: 'Tom &amp; Jerry' },
    { name: 'comment opener', value: '<!-- x -->', want: '&lt;!-- x --&gt;' },
    { name: 'NUL before markup', value: '\u0000<b>', want: '\u0000&lt;b&gt;' },
    { name: 'non-ASCII is left alone', value: 'ünïcödé 字幕 𝄞', want: 'ünïcödé 字幕 𝄞' },
    // Not a URL sanitizer: callers build hrefs themselves (documented on escapeHtml).
    { name: 'javascript: scheme passes as text', value: 'javascript:alert(1)', want: 'javascript:alert(1)' },
    { name: 'empty string', value: '', want: '' },
    { name: 'null', value: null, want: '' },
    { name: 'undefined', value: undefined, want: '' },
    { name: 'number', value: 42, want: '42' },
    { name: 'object with a hostile toString', value: { toString: () => '<i>' }, want: '&lt;i&gt;' },
  ];
  for (const { name, value, want } of cases) {
    it(name, () => {
      const got = escapeHtml(value);
      assert.equal(got, want);
      assert.doesNotMatch(got, /[<>"']/);
      assert.doesNotMatch(got, /&(?!amp;|lt;|gt;|quot;|#39;)/);
    });
  }
});

describe('html tag', () => {
  const hostile = `"'><script>alert(1)</script>`;
  const escaped = '&quot;&#39;&gt;&lt;script&gt;alert(1)&lt;/script&gt;';
  const cases: ReadonlyArray<{ name: string; build: () => SafeHtml; want: string }> = [
    { name: 'text interpolation is escaped', build: () => html`<td>${hostile}</td>`, want: `<td>${escaped}</td>` },
    { name: 'double-quoted attribute', build: () => html`<a title="${hostile}">x</a>`, want: `<a title="${escaped}">x</a>` },
    { name: 'single-quoted attribute', build: () => html`<a title='${hostile}'>x</a>`, want: `<a title='${escaped}'>x</a>` },
    { name: 'nested html stays markup', build: () => html`<p>${html`<b>${hostile}</b>`}</p>`, want: `<p><b>${escaped}</b></p>` },
    { name: 'arrays render item by item', build: () => html`<ul>${['<a>', html`<li>ok</li>`]}</ul>`, want: '<ul>&lt;a&gt;<li>ok</li></ul>' },
    { name: 'null, undefined and false render nothing', build: () => html`[${null}${undefined}${false}]`, want: '[]' },
    { name: '0 and true render as text', build: () => html`${0} ${true}`, want: '0 true' },
    { name: 'a look-alike object is escaped', build: () => html`${{ toString: () => '<b>' }}`, want: '&lt;b&gt;' },
    { name: 'static parts are trusted', build: () => html`<em>&amp;</em>`, want: '<em>&amp;</em>' },
  ];
  for (const { name, build, want } of cases) {
    it(name, () => {
      const got = build();
      assert.ok(SafeHtml.isSafeHtml(got));
      assert.equal(String(got), want);
    });
  }

  it('isSafeHtml is false for look-alikes', () => {
    assert.equal(SafeHtml.isSafeHtml({ html: '<b>' }), false);
    assert.equal(SafeHtml.isSafeHtml('<b>'), false);
    assert.equal(SafeHtml.isSafeHtml(null), false);
    assert.equal(SafeHtml.isSafeHtml(new SafeHtml('<b>')), true);
  });
});
