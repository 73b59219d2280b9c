const HTML_SPECIAL = /[&<>"']/g;

const ENTITIES: Readonly<Record<string, string>> = Object.freeze({
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
});

/**
 * Escapes `& < > " '` as character references, so the result is inert in element text and inside
 * double- or single-quoted attribute values (never use it for unquoted attributes, `<script>`,
 * `<style>`, or to make a URL's scheme safe). `null` and `undefined` become ''; anything else
 * goes through `String()` first.
 *
 * @example
 * escapeHtml('"><img src=x onerror=alert(1)>'); // '&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'
 */
export function escapeHtml(value: unknown): string {
  if (value === null || value === undefined) return '';
  return String(value).replace(HTML_SPECIAL, (char) => ENTITIES[char] ?? char);
}

/**
 * Markup that {@link html} interpolates as is. Only `html` and the constructor make one, and the
 * check is on a private field, so an object that merely looks like one is still escaped.
 */
export class SafeHtml {
  readonly #html: string;

  /** Trusts `markup` as written: prefer the {@link html} tag, which escapes what it interpolates. */
  constructor(markup: string) {
    this.#html = String(markup);
  }

  /** True only for values built by this class. */
  static isSafeHtml(value: unknown): value is SafeHtml {
    return typeof value === 'object' && value !== null && #html in value;
  }

  /** The markup. */
  toString(): string {
    return this.#html;
  }
}

/**
 * Tagged template that escapes every interpolation with {@link escapeHtml}, except {@link SafeHtml}
 * values (such as nested `html` results), which go in as is. Arrays are rendered item by item
 * and joined; `null`, `undefined` and `false` render nothing, so `${cond && html`…`}` works.
 * Quote every attribute whose value is interpolated.
 *
 * @example
 * const name = '<script>alert(1)</script>';
 * String(html`<td title="${name}">${name}</td>`); // '<td title="&lt;script&gt;…">&lt;script&gt;…</td>'
 */
export function html(strings: TemplateStringsArray, ...values: readonly unknown[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new SafeHtml(out);
}

function render(value: unknown): string {
  if (value === null || value === undefined || value === false) return '';
  if (SafeHtml.isSafeHtml(value)) return value.toString();
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(value);
}
