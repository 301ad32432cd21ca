#!/usr/bin/env node
// Streams 10,000 metric points to a Trackwire server from Node.js, reads them
// back and checks them: a proof that the .proto files are all a non-Python
// client needs.
//
// Usage: node stream_metrics.js HOST:PORT   (or grpcs://HOST:PORT for TLS: see lib.js)
//
// Prints `RUN <run_id>` and then `OK 10000 points` and exits 0 on success;
// prints the error and exits 1 on any failure.
'use strict';

const crypto = require('node:crypto');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
// Only for the plaintext or TLS credentials a target asks for.
const { channelTarget } = require('./lib');

const TOTAL_POINTS = 10000;
const BATCH_SIZE = 1000;
const METRIC_KEY = 'loss';
const DEADLINE_MS = 60 * 1000;

// The protos are loaded straight from the repository: no code generation.
// includeDirs makes `import "trackwire/v1/..."` resolve; proto-loader ships
// google/protobuf/timestamp.proto itself.
const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'protos');
const packageDefinition = protoLoader.loadSync('trackwire/v1/tracking_service.proto', {
  includeDirs: [PROTO_ROOT],
  keepCase: true, // field names as in the .proto (run_id, not runId)
  longs: String, // int64 arrive as decimal strings: convert with Number(...)
  enums: String, // enums arrive as their names, e.g. 'RUN_STATUS_FINISHED'
  defaults: true, // unset scalars and repeated fields arrive as 0 / '' / []
  oneofs: true,
});
const trackwire = grpc.loadPackageDefinition(packageDefinition).trackwire.v1;

// The value logged at a step: 1/(step+1) is a plain double, so it must come
// back bit-for-bit identical.
const valueAt = (step) => 1 / (step + 1);

// Calls a unary method and returns a promise of its response.
function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + DEADLINE_MS;
    client[method](request, { deadline }, (err, response) => {
      if (err) reject(new Error(`${method} failed: ${err.code} ${err.details || err.message}`));
      else resolve(response);
    });
  });
}

// Sends every batch on one WriteMetrics stream and resolves once each batch
// is acknowledged as committed (error_code 0), in order.
function writeMetrics(client, batches) {
  return new Promise((resolve, reject) => {
    const call = client.WriteMetrics({ deadline: Date.now() + DEADLINE_MS });
    let acked = 0;
    let failed = false;
    const fail = (err) => {
      if (failed) return;
      failed = true;
      call.cancel();
      reject(err);
    };

    call.on('data', (response) => {
      const sequence = Number(response.sequence_number);
      if (response.error_code !== 0) {
        fail(new Error(`batch ${sequence} refused: code ${response.error_code}: ${response.error_message}`));
        return;
      }
      if (sequence !== acked + 1) {
        fail(new Error(`expected the ack of batch ${acked + 1}, got ${sequence}`));
        return;
      }
      acked += 1;
      // All batches committed: half-close our side; the server then ends its side.
      if (acked === batches.length) call.end();
    });
    call.on('error', (err) => fail(new Error(`WriteMetrics failed: ${err.code} ${err.details || err.message}`)));
    call.on('end', () => {
      if (failed) return;
      if (acked === batches.length) resolve(acked);
      else fail(new Error(`stream ended after ${acked} of ${batches.length} acks`));
    });

    for (const batch of batches) call.write(batch);
  });
}

// Reads one metric's whole history, concatenating the streamed chunks.
function readMetricHistory(client, runId, key) {
  return new Promise((resolve, reject) => {
    const call = client.ReadMetricHistory(
      { run_id: runId, metric_key: key },
      { deadline: Date.now() + DEADLINE_MS },
    );
    const history = { values: [], steps: [], timestamps_ms: [] };
    call.on('data', (chunk) => {
      // Each chunk's points are a MetricPoints message of the one key asked for.
      history.values.push(...chunk.points.values);
      history.steps.push(...chunk.points.steps.map(Number));
      history.timestamps_ms.push(...chunk.points.timestamps_ms.map(Number));
    });
    call.on('error', (err) => reject(new Error(`ReadMetricHistory failed: ${err.code} ${err.details || err.message}`)));
    call.on('end', () => resolve(history));
  });
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function main(target) {
  const { address, credentials } = channelTarget(target);
  const client = new trackwire.TrackingService(address, credentials);
  try {
    // The server tells its limits; make sure our batches fit.
    const info = await unary(client, 'GetServerInfo', {});
    check(BATCH_SIZE <= info.limits.max_stream_batch_points,
      `batch of ${BATCH_SIZE} exceeds max_stream_batch_points ${info.limits.max_stream_batch_points}`);

    // A fresh experiment and a run in it.
    const name = `node-example-${Date.now()}-${crypto.randomBytes(4).toString('hex')}`;
    const { experiment } = await unary(client, 'CreateExperiment', { name });
    const { run } = await unary(client, 'CreateRun', {
      experiment_id: experiment.experiment_id,
      run_name: 'node-stream-metrics',
    });
    const runId = run.info.run_id;
    check(run.info.status === 'RUN_STATUS_RUNNING', `new run has status ${run.info.status}`);

    // Columnar batches of one run: the points are a MetricPoints message with
    // one key, so key_index stays empty. int64 columns (steps, timestamps_ms,
    // sequence_number) accept plain Numbers as long as they stay below 2**53.
    const writerId = crypto.randomUUID();
    const startMs = Date.now();
    const batches = [];
    for (let first = 0; first < TOTAL_POINTS; first += BATCH_SIZE) {
      const steps = [];
      const values = [];
      const timestamps = [];
      for (let step = first; step < first + BATCH_SIZE; step++) {
        steps.push(step);
        values.push(valueAt(step));
        timestamps.push(startMs + step);
      }
      batches.push({
        writer_id: writerId,
        sequence_number: batches.length + 1,
        run_id: runId,
        points: {
          keys: [METRIC_KEY],
          key_index: [],
          values,
          steps,
          timestamps_ms: timestamps,
        },
      });
    }
    await writeMetrics(client, batches);

    // Read everything back and compare exactly.
    const history = await readMetricHistory(client, runId, METRIC_KEY);
    check(history.values.length === TOTAL_POINTS,
      `read ${history.values.length} points, expected ${TOTAL_POINTS}`);
    for (let i = 0; i < TOTAL_POINTS; i++) {
      check(history.steps[i] === i, `point ${i} has step ${history.steps[i]}`);
      check(history.values[i] === valueAt(i), `step ${i} has value ${history.values[i]}, sent ${valueAt(i)}`);
      check(history.timestamps_ms[i] === startMs + i, `step ${i} has timestamp ${history.timestamps_ms[i]}`);
    }

    // Finish the run; its latest "loss" is the point with the highest step.
    const nowMs = Date.now();
    const { run: updated } = await unary(client, 'UpdateRun', {
      run_id: runId,
      status: 'RUN_STATUS_FINISHED',
      end_time: { seconds: Math.floor(nowMs / 1000), nanos: (nowMs % 1000) * 1e6 },
    });
    check(updated.info.status === 'RUN_STATUS_FINISHED', `UpdateRun left status ${updated.info.status}`);

    const { run: finished } = await unary(client, 'GetRun', { run_id: runId });
    check(finished.info.status === 'RUN_STATUS_FINISHED', `GetRun shows status ${finished.info.status}`);
    const latest = finished.data.metrics.find((m) => m.key === METRIC_KEY);
    check(latest !== undefined, `GetRun shows no "${METRIC_KEY}" metric`);
    const lastStep = TOTAL_POINTS - 1;
    check(Number(latest.step) === lastStep && latest.value === valueAt(lastStep),
      `latest ${METRIC_KEY} is step ${latest.step} value ${latest.value}, expected step ${lastStep} value ${valueAt(lastStep)}`);

    console.log(`RUN ${runId}`);
    console.log(`OK ${history.values.length} points`);
  } finally {
    client.close();
  }
}

const target = process.argv[2];
if (!target || process.argv.length !== 3) {
  console.error('usage: node stream_metrics.js HOST:PORT | grpcs://HOST:PORT');
  process.exit(1);
}
main(target).then(
  () => process.exit(0),
  (err) => {
    console.error(`ERROR: ${err.message}`);
    process.exit(1);
  },
);
