export { createWatchLogHandler, tokenAuthorizer, type WatchLogViewerOptions } from './viewer.ts';
