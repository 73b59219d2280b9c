export { WatchLog, createWatchLog, type WatchEntry, type WatchLogOptions, type WatchLogStats, type PositionQuery, type HeatStrip } from './watch-log.ts';
export { mergePlayedRanges, MAX_PLAYED_RANGES, type PlayedRange } from './played-ranges.ts';
export type { SessionKind } from './playback.ts';
export type {
  WatchQuery,
  WatchPage,
  RequestRow,
  SessionRow,
  VideoTotalRow,
  PruneResult,
} from './query.ts';
export { logWatchRequest, type ViewerOptions, type ServedFile } from './record-request.ts';
export type { Viewer, IdentifyViewer, WatchRecorder, PlaybackReport, PlaybackRecorder } from '../types.ts';
