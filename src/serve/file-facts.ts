import type { OpenFile } from '../files/open-file-cache.ts';
import { etagFor } from '../http/etag.ts';
import { isActiveContent } from '../http/mime.ts';

/**
 * What the headers say about one version of a file, worked out once per open file: a file the
 * open-file cache keeps open is the same `OpenFile` for every request, so its ETag (two BigInt
 * conversions), media type and active-content check are not redone per request (issue 14).
 */
export type FileFacts = {
  readonly size: number;
  readonly etag: string;
  /** The file's mtime; validators clamp it to now per request (a future mtime). */
  readonly mtimeMs: number;
  readonly contentType: string;
  /** Whether it may render as a document (`isActiveContent`): sent sandboxed. */
  readonly active: boolean;
};

type Remembered = FileFacts & { readonly fileName: string; readonly lookup: (fileName: string) => string };
const FACTS = new WeakMap<OpenFile, Remembered>();

export function factsOf(file: OpenFile, fileName: string, mediaTypeFor: (fileName: string) => string): FileFacts {
  const known = FACTS.get(file);
  if (known !== undefined && known.fileName === fileName && known.lookup === mediaTypeFor) return known;
  const { stats } = file;
  const contentType = mediaTypeFor(fileName);
  const facts: Remembered = {
    size: Number(stats.size),
    etag: etagFor(stats),
    mtimeMs: Number(stats.mtimeMs),
    contentType,
    active: isActiveContent(fileName, contentType),
    fileName,
    lookup: mediaTypeFor,
  };
  FACTS.set(file, facts);
  return facts;
}
