#!/usr/bin/env node
// Drives every RPC of every service a Trackwire server offers, from Node.js:
// grpc.health.v1.Health's Check, then TrackingService, ArtifactService,
// ModelRegistryService and AuthService (tracking.js, artifacts.js, registry.js,
// auth.js), on one channel. The artifacts and the model versions go to the run
// tracking.js made; auth.js grants access to its experiment.
//
// Usage: node all_services.js HOST:PORT
//        TRACKWIRE_TOKEN=<an admin's token> node all_services.js HOST:PORT  (--auth)
//
// Prints one line per service and a last line `RESULT {...}` (JSON: the ids
// and names made, so that a test can check what was stored); exits 1 on the
// first unexpected status or answer.
'use strict';

const { connect, unary, expectStatus, check, status, runMain } = require('./lib');
const tracking = require('./tracking');
const artifacts = require('./artifacts');
const registry = require('./registry');
const auth = require('./auth');

async function checkHealth(clients) {
  // '' is the whole server; each service is also reported by its full name.
  for (const service of ['', 'trackwire.v1.TrackingService', 'trackwire.v1.ArtifactService',
    'trackwire.v1.ModelRegistryService', 'trackwire.v1.AuthService']) {
    const { status: serving } = await unary(clients.health, 'Check', { service });
    check(serving === 'SERVING', `health of "${service}" is ${serving}`);
  }
  await expectStatus(unary(clients.health, 'Check', { service: 'no.such.Service' }), status.NOT_FOUND);
}

async function main(target) {
  const clients = connect(target);
  try {
    await checkHealth(clients);
    console.log('OK health Check');
    const t = await tracking.exercise(clients);
    console.log(`OK tracking ${t.rpcs.length} RPCs`);
    const a = await artifacts.exercise(clients, t.runId);
    console.log(`OK artifacts ${a.rpcs.length} RPCs`);
    const r = await registry.exercise(clients, t.runId);
    console.log(`OK registry ${r.rpcs.length} RPCs`);
    const u = await auth.exercise(clients, target, t.experimentId, r.name);
    console.log(`OK auth ${u.rpcs.length} RPCs (auth ${u.authEnabled ? 'on' : 'off'})`);
    console.log(`RESULT ${JSON.stringify({
      experiment_id: t.experimentId,
      run_id: t.runId,
      artifact: { path: a.path, size: a.size, sha256: a.sha256 },
      model: r.name,
      auth_enabled: u.authEnabled,
      rpcs: {
        'grpc.health.v1.Health': ['Check'],
        'trackwire.v1.TrackingService': t.rpcs,
        'trackwire.v1.ArtifactService': a.rpcs,
        'trackwire.v1.ModelRegistryService': r.rpcs,
        'trackwire.v1.AuthService': u.rpcs,
      },
    })}`);
  } finally {
    clients.close();
  }
}

if (require.main === module) runMain(main, 'node all_services.js');
