// The node:http handler's whole table, run against createFetchHandler (bridged by @hono/node-server).
process.env['SAGE_HANDLER_UNDER_TEST'] = 'fetch';
await import('./handler.test.ts');
