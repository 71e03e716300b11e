// run.js drives byoi's OVH API with the official Node.js client (npm
// package "ovh", pinned in package-lock.json) for server/http's acceptance
// test (ovhclients_test.go). The test writes a plan on stdin:
//
//   {"host": "127.0.0.1", "port": 8443,
//    "clients": {"main": {"appKey": …, "appSecret": …, "consumerKey": …, "basePath": "/1.0"}},
//    "steps": [{"client": "main", "method": "GET", "path": "/dedicated/server", "params": {…}, "sleepMs": 0}]}
//
// and reads one result per step on stdout, as a JSON array:
//
//   {"ok": true, "result": …}  or  {"ok": false, "error": <the client's error object>}
//
// each with "raw", the last response body the client's debug hook saw (the
// client's own error object keeps only the status and the message). The CA
// of byoi's test certificate comes from NODE_EXTRA_CA_CERTS.
'use strict';

const ovh = require('ovh');

function readStdin() {
  return new Promise((resolve, reject) => {
    let data = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (c) => { data += c; });
    process.stdin.on('end', () => resolve(data));
    process.stdin.on('error', reject);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const plan = JSON.parse(await readStdin());
  const clients = {};
  const lastBody = {};
  for (const [name, c] of Object.entries(plan.clients)) {
    clients[name] = ovh({
      appKey: c.appKey,
      appSecret: c.appSecret,
      consumerKey: c.consumerKey,
      host: plan.host,
      port: plan.port,
      basePath: c.basePath || '/1.0',
      timeout: 20000,
      debug: (...args) => {
        if (args[0] === '[OVH] API response to') {
          lastBody[name] = args[args.length - 1];
        }
      },
    });
  }
  const results = [];
  for (const step of plan.steps) {
    if (step.sleepMs) {
      await sleep(step.sleepMs);
    }
    const client = clients[step.client || 'main'];
    lastBody[step.client || 'main'] = undefined;
    // The client changes its params object; give it a copy.
    const params = step.params ? JSON.parse(JSON.stringify(step.params)) : {};
    try {
      const result = await client.requestPromised(step.method, step.path, params);
      results.push({ ok: true, result: result === undefined ? null : result, raw: lastBody[step.client || 'main'] });
    } catch (err) {
      results.push({ ok: false, error: err, raw: lastBody[step.client || 'main'] });
    }
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
