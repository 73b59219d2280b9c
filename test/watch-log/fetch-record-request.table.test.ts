// The watch-log recording rows (serveWithLog), run against createFetchHandler (bridged by @hono/node-server).
process.env['SAGE_HANDLER_UNDER_TEST'] = 'fetch';
await import('./record-request.test.ts');
