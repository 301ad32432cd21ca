#!/usr/bin/env node
// Drives every RPC of trackwire.v1.TrackingService from Node.js, checking each
// answer against what the .proto files document, and a few refusals (bad input
// is INVALID_ARGUMENT naming the field, an unknown id NOT_FOUND).
//
// Usage: node tracking.js HOST:PORT
//
// Prints `EXPERIMENT <id>`, `RUN <id>` and `OK tracking <n> RPCs`; exits 1 on
// any unexpected answer.
'use strict';

const crypto = require('node:crypto');
const {
  connect,
  unary,
  serverStream,
  expectStatus,
  check,
  timestamp,
  metricPoints,
  pointsOf,
  status,
  runMain,
} = require('./lib');

// Opens one WriteMetrics stream, sends `batches` and resolves to their answers
// (one per batch, in order) once the server ends its side.
function writeMetrics(tracking, batches) {
  return new Promise((resolve, reject) => {
    const call = tracking.WriteMetrics({ deadline: Date.now() + 60 * 1000 });
    const answers = [];
    call.on('data', (answer) => {
      answers.push(answer);
      // Every batch answered: half-close; the server then ends the stream.
      if (answers.length === batches.length) call.end();
    });
    call.on('error', (err) => reject(new Error(`WriteMetrics failed: ${err.code} ${err.details}`)));
    call.on('end', () => resolve(answers));
    for (const batch of batches) call.write(batch);
  });
}

// Watches `runId` and logs a point with LogBatch every 200 ms until the watch
// delivers one (the watch only carries points committed after it opened).
function watchOnePoint(tracking, runId) {
  return new Promise((resolve, reject) => {
    const call = tracking.WatchMetrics({ run_ids: [runId], metric_keys: ['live'] });
    let step = 0;
    let done = false;
    const timer = setInterval(() => {
      step += 1;
      unary(tracking, 'LogBatch', {
        run_id: runId,
        metrics: metricPoints([{ key: 'live', value: step, step }]),
      }).catch(finish);
    }, 200);
    const giveUp = setTimeout(() => finish(new Error('WatchMetrics delivered nothing in 20 s')), 20000);
    function finish(err, message) {
      if (done) return;
      done = true;
      clearInterval(timer);
      clearTimeout(giveUp);
      call.cancel(); // the watch stays open until the client cancels it
      if (err) reject(err);
      else resolve(message);
    }
    call.on('data', (message) => finish(null, message));
    call.on('error', (err) => {
      if (err.code !== status.CANCELLED) finish(new Error(`WatchMetrics failed: ${err.code} ${err.details}`));
    });
  });
}

async function exercise(clients) {
  const { tracking } = clients;
  const called = new Set();
  const call = (method, request) => {
    called.add(method);
    return unary(tracking, method, request);
  };

  // -- the server ------------------------------------------------------------
  const info = await call('GetServerInfo', {});
  check(info.version !== '', 'GetServerInfo has no version');
  check(info.limits.max_batch_metrics > 0, 'GetServerInfo has no limits');

  // -- experiments -----------------------------------------------------------
  const name = `node-tracking-${Date.now()}-${crypto.randomBytes(4).toString('hex')}`;
  const { experiment } = await call('CreateExperiment', {
    name,
    tags: [{ key: 'team', value: 'node' }],
  });
  const experimentId = experiment.experiment_id; // a string in messages
  check(experiment.lifecycle_stage === 'LIFECYCLE_STAGE_ACTIVE', `new experiment is ${experiment.lifecycle_stage}`);
  await expectStatus(call('CreateExperiment', { name }), status.ALREADY_EXISTS);
  await expectStatus(call('CreateExperiment', { name: '' }), status.INVALID_ARGUMENT, 'name');

  const got = (await call('GetExperiment', { experiment_id: experimentId })).experiment;
  check(got.name === name, 'GetExperiment returned another experiment');
  const byName = (await call('GetExperimentByName', { name })).experiment;
  check(byName.experiment_id === experimentId, 'GetExperimentByName returned another experiment');

  const renamed = `${name}-renamed`;
  const updated = (await call('UpdateExperiment', { experiment_id: experimentId, name: renamed })).experiment;
  check(updated.name === renamed, `UpdateExperiment left the name ${updated.name}`);
  await call('SetExperimentTag', { experiment_id: experimentId, tag: { key: 'stage', value: 'demo' } });

  // Filters use MLflow's grammar; ids are numbers there.
  const found = await call('SearchExperiments', {
    filter: `name = '${renamed}' AND tags.stage = 'demo'`,
    page_size: 10,
  });
  check(found.experiments.length === 1 && found.experiments[0].experiment_id === experimentId,
    `SearchExperiments found ${found.experiments.length} experiments`);

  // A scratch experiment to delete and restore.
  const scratch = (await call('CreateExperiment', { name: `${name}-scratch` })).experiment;
  await call('DeleteExperiment', { experiment_id: scratch.experiment_id });
  const deleted = (await call('GetExperiment', { experiment_id: scratch.experiment_id })).experiment;
  check(deleted.lifecycle_stage === 'LIFECYCLE_STAGE_DELETED', 'DeleteExperiment did not delete');
  await call('RestoreExperiment', { experiment_id: scratch.experiment_id });

  // -- runs ------------------------------------------------------------------
  const startMs = Date.now();
  const { run } = await call('CreateRun', {
    experiment_id: experimentId,
    run_name: 'node-tracking',
    start_time: timestamp(startMs),
    params: [{ key: 'lr', value: '0.01' }],
    tags: [{ key: 'framework', value: 'node' }],
    // Metric points always travel as one MetricPoints message, in columns.
    metrics: metricPoints([{ key: 'acc', value: 0.5, step: 0, timestamp_ms: startMs }]),
  });
  const runId = run.info.run_id;
  check(run.info.status === 'RUN_STATUS_RUNNING', `new run is ${run.info.status}`);
  await expectStatus(call('GetRun', { run_id: 'f'.repeat(32) }), status.NOT_FOUND);
  await expectStatus(call('GetRun', { run_id: 'not-a-run-id' }), status.INVALID_ARGUMENT, 'run_id');

  const { runs: created } = await call('BatchCreateRuns', {
    experiment_id: experimentId,
    requests: [0, 1, 2].map((i) => ({
      run_name: `sweep-${i}`,
      params: [{ key: 'seed', value: String(i) }],
      metrics: metricPoints([{ key: 'acc', value: i / 10, step: 0 }]),
    })),
  });
  check(created.length === 3, `BatchCreateRuns created ${created.length} runs`);

  // LogBatch: params, tags and points of two keys, in one transaction.
  const points = [];
  for (let step = 1; step <= 5; step++) {
    points.push({ key: 'acc', value: 0.5 + step / 10, step, timestamp_ms: startMs + step });
    points.push({ key: 'loss', value: 1 / step, step, timestamp_ms: startMs + step });
  }
  await call('LogBatch', {
    run_id: runId,
    metrics: metricPoints(points),
    params: [{ key: 'optimizer', value: 'adam' }],
    tags: [{ key: 'note', value: 'from node' }],
  });
  // A key index beyond `keys` is refused, naming the field; nothing is stored.
  await expectStatus(
    call('LogBatch', {
      run_id: runId,
      metrics: { keys: ['a', 'b'], key_index: [0, 2], values: [1, 2] },
    }),
    status.INVALID_ARGUMENT,
    'metrics.key_index[1]',
  );

  await call('SetRunTag', { run_id: runId, tag: { key: 'temporary', value: 'yes' } });
  await call('DeleteRunTag', { run_id: runId, key: 'temporary' });
  await expectStatus(call('DeleteRunTag', { run_id: runId, key: 'temporary' }), status.NOT_FOUND);

  // -- streamed metrics --------------------------------------------------------
  // One run per batch; a sequence number per batch makes resends idempotent.
  const writerId = crypto.randomUUID();
  const stepsOf = (from) => Array.from({ length: 100 }, (_, i) => from + i);
  const answers = await writeMetrics(tracking, [
    { writer_id: writerId, sequence_number: 1, run_id: runId,
      points: { keys: ['stream'], values: stepsOf(0).map((s) => s / 2), steps: stepsOf(0) } },
    { writer_id: writerId, sequence_number: 2, run_id: runId,
      points: { keys: ['stream'], values: stepsOf(100).map((s) => s / 2), steps: stepsOf(100) } },
    // A resend of batch 1: acknowledged as a duplicate, not stored twice.
    { writer_id: writerId, sequence_number: 1, run_id: runId,
      points: { keys: ['stream'], values: [0], steps: [0] } },
    // A refused batch is answered, not fatal: the stream goes on.
    { writer_id: writerId, sequence_number: 3, run_id: runId, points: { keys: [''], values: [1] } },
  ]);
  called.add('WriteMetrics');
  check(answers.length === 4, `WriteMetrics answered ${answers.length} of 4 batches`);
  check(answers[0].error_code === 0 && answers[1].error_code === 0, 'WriteMetrics refused a good batch');
  check(answers[2].duplicate === true, 'a resent batch was not acknowledged as a duplicate');
  check(answers[3].error_code === status.INVALID_ARGUMENT && answers[3].error_message.includes('points.keys[0]'),
    `a bad key was answered ${answers[3].error_code} ${answers[3].error_message}`);
  check(Number(answers[3].expected_sequence_number) === 3, 'the refused batch was recorded');

  // -- reads -----------------------------------------------------------------
  const chunks = await serverStream(tracking, 'ReadMetricHistory', {
    run_id: runId,
    metric_key: 'stream',
    chunk_size: 64,
  });
  called.add('ReadMetricHistory');
  const history = chunks.flatMap((chunk) => pointsOf(chunk.points));
  check(chunks.length === 4, `ReadMetricHistory sent ${chunks.length} chunks of at most 64 points`);
  check(history.length === 200 && history.every((p, i) => p.step === i && p.value === i / 2 && p.key === 'stream'),
    'ReadMetricHistory returned other points');

  const runIds = [runId, created[0].info.run_id];
  const histories = await serverStream(tracking, 'BatchReadMetricHistory', {
    run_ids: runIds,
    metric_key: 'acc',
    max_points: 4,
  });
  called.add('BatchReadMetricHistory');
  check(histories.map((m) => m.run_id).join() === runIds.join(), 'BatchReadMetricHistory order');
  check(Number(histories[0].total_points) === 6 && histories[0].points.values.length <= 4,
    `BatchReadMetricHistory: ${histories[0].total_points} points, ${histories[0].points.values.length} sent`);

  const watched = await watchOnePoint(tracking, runId);
  called.add('WatchMetrics');
  check(watched.run_id === runId && watched.points.keys[0] === 'live', 'WatchMetrics sent another point');

  const { run: full } = await call('GetRun', { run_id: runId });
  const latest = Object.fromEntries(full.data.metrics.map((m) => [m.key, m]));
  check(latest.acc.value === 1.0 && Number(latest.acc.step) === 5, `latest acc is ${JSON.stringify(latest.acc)}`);
  check(full.data.params.length === 2 && full.data.tags.some((t) => t.key === 'note'), 'GetRun data');

  // SearchRuns answers with the page as columns: entry i of every list is run i.
  const search = await call('SearchRuns', {
    experiment_ids: [experimentId],
    filter: "metrics.acc >= 0.1 AND params.seed IN ('1', '2')",
    order_by: ['metrics.acc DESC'],
    include_total_count: true,
  });
  const table = search.runs;
  check(Number(search.total_count) === 2 && table.run_ids.length === 2, `SearchRuns found ${table.run_ids.length}`);
  const accColumn = table.columns.find((c) => c.name === 'metrics.acc');
  check(accColumn.numbers[0] === 0.2 && accColumn.present.every(Boolean), 'SearchRuns metrics.acc column');
  await expectStatus(call('SearchRuns', { experiment_ids: [experimentId], filter: 'metrics.acc >' }),
    status.INVALID_ARGUMENT);

  // -- run lifecycle -----------------------------------------------------------
  const endMs = Date.now();
  const { run: finished } = await call('UpdateRun', {
    run_id: runId,
    status: 'RUN_STATUS_FINISHED',
    end_time: timestamp(endMs),
  });
  check(finished.info.status === 'RUN_STATUS_FINISHED', `UpdateRun left ${finished.info.status}`);
  const scratchRun = created[2].info.run_id;
  await call('DeleteRun', { run_id: scratchRun });
  await expectStatus(call('LogBatch', { run_id: scratchRun, tags: [{ key: 'a', value: 'b' }] }),
    status.FAILED_PRECONDITION);
  await call('RestoreRun', { run_id: scratchRun });

  // -- purging: only what is deleted goes for good ------------------------------
  await expectStatus(call('PurgeRun', { run_id: scratchRun }), status.FAILED_PRECONDITION);
  const { run: doomed } = await call('CreateRun', { experiment_id: experimentId, run_name: 'doomed' });
  await call('DeleteRun', { run_id: doomed.info.run_id });
  const checked = await call('PurgeRun', { run_id: doomed.info.run_id, validate_only: true });
  check(checked.run_id === doomed.info.run_id && checked.delete_time, 'PurgeRun validate_only');
  await call('PurgeRun', { run_id: doomed.info.run_id });
  await expectStatus(call('GetRun', { run_id: doomed.info.run_id }), status.NOT_FOUND);
  const empty = (await call('CreateExperiment', { name: `${name}-purged` })).experiment;
  await expectStatus(call('PurgeExperiment', { experiment_id: empty.experiment_id }),
    status.FAILED_PRECONDITION);
  await call('DeleteExperiment', { experiment_id: empty.experiment_id });
  const purged = await call('PurgeExperiment', { experiment_id: empty.experiment_id });
  check(purged.experiment_id === empty.experiment_id, 'PurgeExperiment answered another id');
  await expectStatus(call('GetExperiment', { experiment_id: empty.experiment_id }), status.NOT_FOUND);

  return { experimentId, runId, rpcs: [...called].sort() };
}

async function main(target) {
  const clients = connect(target);
  try {
    const { experimentId, runId, rpcs } = await exercise(clients);
    console.log(`EXPERIMENT ${experimentId}`);
    console.log(`RUN ${runId}`);
    console.log(`OK tracking ${rpcs.length} RPCs`);
  } finally {
    clients.close();
  }
}

module.exports = { exercise };

if (require.main === module) runMain(main, 'node tracking.js');
