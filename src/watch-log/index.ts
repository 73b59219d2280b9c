export { WatchLog, createWatchLog, type WatchEntry, type WatchLogOptions, type WatchLogStats } from './watch-log.ts';
export type {
  WatchQuery,
  WatchPage,
  RequestRow,
  SessionRow,
  VideoTotalRow,
  PruneResult,
} from './query.ts';
export { logWatchRequest, type ViewerOptions, type ServedFile } from './record-request.ts';
export type { Viewer, IdentifyViewer, WatchRecorder } from '../types.ts';
