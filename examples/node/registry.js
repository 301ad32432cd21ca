#!/usr/bin/env node
// Drives every RPC of trackwire.v1.ModelRegistryService from Node.js: a
// registered model, two versions of it made from a run's artifacts, their
// tags, stages and aliases, searches, and the deletes; plus a few refusals.
//
// Usage: node registry.js HOST:PORT
//
// Prints `MODEL <name>` and `OK registry <n> RPCs`; exits 1 on any unexpected
// answer.
'use strict';

const crypto = require('node:crypto');
const { connect, unary, expectStatus, check, status, runMain } = require('./lib');

async function exercise(clients, runId) {
  const { registry } = clients;
  const called = new Set();
  const call = (method, request) => {
    called.add(method);
    return unary(registry, method, request);
  };

  // -- registered models -------------------------------------------------------
  const first = `node-model-${Date.now()}-${crypto.randomBytes(4).toString('hex')}`;
  await call('CreateRegisteredModel', { name: first, description: 'made from Node.js' });
  await expectStatus(call('CreateRegisteredModel', { name: first }), status.ALREADY_EXISTS);
  const name = `${first}-renamed`;
  const renamed = (await call('RenameRegisteredModel', { name: first, new_name: name })).registered_model;
  check(renamed.name === name, `RenameRegisteredModel left ${renamed.name}`);
  await expectStatus(call('GetRegisteredModel', { name: first }), status.NOT_FOUND);

  const described = (await call('UpdateRegisteredModel', { name, description: 'churn classifier' }))
    .registered_model;
  check(described.description === 'churn classifier', 'UpdateRegisteredModel kept the description');
  await call('SetRegisteredModelTag', { name, tag: { key: 'team', value: 'node' } });
  await call('SetRegisteredModelTag', { name, tag: { key: 'scratch', value: '1' } });
  await call('DeleteRegisteredModelTag', { name, key: 'scratch' });
  const model = (await call('GetRegisteredModel', { name })).registered_model;
  check(model.tags.map((t) => t.key).join() === 'team', `model tags ${JSON.stringify(model.tags)}`);

  const models = await call('SearchRegisteredModels', { filter: `name = '${name}'`, page_size: 10 });
  check(models.registered_models.length === 1, `SearchRegisteredModels found ${models.registered_models.length}`);

  // -- versions ----------------------------------------------------------------
  // A version points into a run's artifacts: runs:/<run_id>/<path>.
  const source = `runs:/${runId}/node`;
  const v1 = (await call('CreateModelVersion', { name, source, description: 'first' })).model_version;
  const v2 = (await call('CreateModelVersion', { name, source, tags: [{ key: 'k', value: 'v' }] })).model_version;
  check(v1.version === '1' && v2.version === '2', `versions ${v1.version}, ${v2.version}`); // strings
  check(v1.status === 'MODEL_VERSION_STATUS_READY', `new version is ${v1.status}`);
  await expectStatus(call('CreateModelVersion', { name, source: '/tmp/elsewhere' }), status.INVALID_ARGUMENT, 'source');

  const got = (await call('GetModelVersion', { name, version: '1' })).model_version;
  check(got.run_id === runId, `GetModelVersion has run ${got.run_id}`);
  await expectStatus(call('GetModelVersion', { name, version: '99' }), status.NOT_FOUND);
  const updated = (await call('UpdateModelVersion', { name, version: '1', description: 'baseline' })).model_version;
  check(updated.description === 'baseline', 'UpdateModelVersion kept the description');

  await call('SetModelVersionTag', { name, version: '1', tag: { key: 'validated', value: 'yes' } });
  await call('DeleteModelVersionTag', { name, version: '2', key: 'k' });

  // Stages are the ModelVersionStage enum (names with enums: String).
  const staged = (await call('TransitionModelVersionStage', {
    name, version: '1', new_stage: 'MODEL_VERSION_STAGE_PRODUCTION',
  })).model_version;
  check(staged.stage === 'MODEL_VERSION_STAGE_PRODUCTION', `TransitionModelVersionStage left ${staged.stage}`);
  const latest = await call('GetLatestModelVersions', {
    name, wanted_stages: ['MODEL_VERSION_STAGE_PRODUCTION'],
  });
  check(latest.model_versions.length === 1 && latest.model_versions[0].version === '1',
    'GetLatestModelVersions: the Production version is not 1');

  // In filters, a version is a number or a quoted number ('2' = 2); stages by name.
  const versions = await call('SearchModelVersions', {
    filter: `name = '${name}' AND version >= '1'`,
    order_by: ['version_number DESC'],
  });
  check(versions.model_versions.map((v) => v.version).join() === '2,1', 'SearchModelVersions order');

  await call('SetRegisteredModelAlias', { name, alias: 'champion', version: '1' });
  const champion = (await call('GetModelVersionByAlias', { name, alias: 'champion' })).model_version;
  check(champion.version === '1' && champion.aliases.includes('champion'), 'GetModelVersionByAlias');
  await call('DeleteRegisteredModelAlias', { name, alias: 'champion' });
  await expectStatus(call('GetModelVersionByAlias', { name, alias: 'champion' }), status.NOT_FOUND);

  const { artifact_uri: uri } = await call('GetModelVersionDownloadUri', { name, version: '1' });
  check(uri.includes(runId) && uri.endsWith('/node'), `download URI ${uri}`);

  // -- deletes -----------------------------------------------------------------
  await call('DeleteModelVersion', { name, version: '2' });
  await expectStatus(call('GetModelVersion', { name, version: '2' }), status.NOT_FOUND);
  await call('DeleteRegisteredModel', { name });
  await expectStatus(call('GetRegisteredModel', { name }), status.NOT_FOUND);

  // A second model left in place, for whoever checks what Node stored.
  const kept = `${first}-kept`;
  await call('CreateRegisteredModel', { name: kept, tags: [{ key: 'from', value: 'node' }] });
  await call('CreateModelVersion', { name: kept, source });
  return { name: kept, rpcs: [...called].sort() };
}

async function main(target) {
  const clients = connect(target);
  try {
    const name = `node-registry-${Date.now()}-${crypto.randomBytes(4).toString('hex')}`;
    const { experiment } = await unary(clients.tracking, 'CreateExperiment', { name });
    const { run } = await unary(clients.tracking, 'CreateRun', { experiment_id: experiment.experiment_id });
    const { name: model, rpcs } = await exercise(clients, run.info.run_id);
    console.log(`MODEL ${model}`);
    console.log(`OK registry ${rpcs.length} RPCs`);
  } finally {
    clients.close();
  }
}

module.exports = { exercise };

if (require.main === module) runMain(main, 'node registry.js');
