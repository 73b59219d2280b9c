// The signed-link end-to-end rows, run against createFetchHandler (bridged by @hono/node-server).
process.env['SAGE_HANDLER_UNDER_TEST'] = 'fetch';
await import('./signed-url.test.ts');
