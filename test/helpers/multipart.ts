/** One part of a multipart/byteranges body, parsed back. */
export type Part = { readonly headers: Record<string, string>; readonly body: Buffer };

/**
 * Parses a multipart/byteranges body (RFC 9110 §14.6, RFC 2046 §5.1) strictly: every delimiter,
 * header line and CRLF must be where the format says, or it throws.
 */
export function parseMultipart(body: Buffer, contentType: string): Part[] {
  const match = /^multipart\/byteranges; boundary=([0-9A-Za-z'()+_,./:=?-]{1,70})$/.exec(contentType);
  if (!match) throw new Error(`not a multipart/byteranges content type: ${contentType}`);
  const delimiter = Buffer.from(`--${match[1]}`);
  const parts: Part[] = [];
  let pos = 0;
  if (!body.subarray(0, delimiter.length).equals(delimiter)) throw new Error('body does not start with the boundary');
  pos = delimiter.length;
  for (;;) {
    const after = body.subarray(pos, pos + 2).toString('latin1');
    if (after === '--') {
      if (body.subarray(pos + 2).toString('latin1') !== '\r\n') throw new Error('junk after the closing boundary');
      return parts;
    }
    if (after !== '\r\n') throw new Error(`expected CRLF after boundary at ${pos}`);
    pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos, 'latin1');
    if (headerEnd === -1) throw new Error('part headers never end');
    const headers: Record<string, string> = {};
    for (const line of body.subarray(pos, headerEnd).toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`bad part header line: ${line}`);
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    pos = headerEnd + 4;
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), pos);
    if (next === -1) throw new Error('part never ends');
    parts.push({ headers, body: body.subarray(pos, next) });
    pos = next + 2 + delimiter.length;
  }
}
