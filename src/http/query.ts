/** Why a request target's query has no single value for a parameter. */
export type QueryProblem =
  | { readonly kind: 'absent' } // no query, or no pair with that name
  | { readonly kind: 'repeated' } // the name appears more than once
  | { readonly kind: 'malformed' }; // its value has a bad %-escape

const ABSENT = Object.freeze({ kind: 'absent' }) satisfies QueryProblem;
const REPEATED = Object.freeze({ kind: 'repeated' }) satisfies QueryProblem;
const MALFORMED = Object.freeze({ kind: 'malformed' }) satisfies QueryProblem;

/**
 * The decoded value of the one `name` parameter in a request target's query (between the first
 * `?` and any `#`), as application/x-www-form-urlencoded: `+` is a space, `%XX` is decoded once.
 *
 * A pair without `=` has the value `''`. A repeated name is a problem even when the values agree,
 * so two readers of one URL (a permission check, the handler) can never pick different ones. A
 * name that fails to decode is not `name`; a value that fails to decode is 'malformed'.
 */
export function queryParam(url: string, name: string): string | QueryProblem {
  let found: string | undefined;
  let problem: QueryProblem | undefined;
  eachQueryPair(url, (key, rawValue) => {
    if (key !== name) return false;
    if (found !== undefined) {
      problem = REPEATED;
      return true;
    }
    const value = decodeFormComponent(rawValue);
    if (value === undefined) {
      problem = MALFORMED;
      return true;
    }
    found = value;
    return false;
  });
  return problem ?? found ?? ABSENT;
}

/**
 * Calls `visit` with each pair of a request target's query (between the first `?` and any `#`):
 * the name decoded (undefined when it fails to decode) and the value as written (`''` for a pair
 * without `=`). `visit` returns true to stop. The one place that splits a query, for readers that
 * decode values (queryParam) and those that accept only a canonical spelling (signed links).
 */
export function eachQueryPair(url: string, visit: (name: string | undefined, rawValue: string) => boolean): void {
  const hash = url.indexOf('#');
  const end = hash === -1 ? url.length : hash;
  const query = url.indexOf('?');
  if (query === -1 || query > end) return;
  for (const pair of url.slice(query + 1, end).split('&')) {
    const eq = pair.indexOf('=');
    if (visit(decodeFormComponent(eq === -1 ? pair : pair.slice(0, eq)), eq === -1 ? '' : pair.slice(eq + 1))) return;
  }
}

/** application/x-www-form-urlencoded decoding ('+' is a space), or undefined for a bad escape. */
export function decodeFormComponent(text: string): string | undefined {
  if (text.indexOf('%') === -1 && text.indexOf('+') === -1) return text;
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}
