export {
  WatchLog,
  createWatchLog,
  type WatchEntry,
  type WatchLogOptions,
  type WatchQuery,
  type WatchPage,
  type RequestRow,
  type SessionRow,
  type VideoTotalRow,
  type PruneResult,
} from './watch-log.ts';
export { logWatchRequest, type ViewerOptions, type ServedFile } from './record-request.ts';
export type { Viewer, IdentifyViewer, WatchRecorder } from '../types.ts';
