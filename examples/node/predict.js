#!/usr/bin/env node
// Scores rows with a model served by `trackwire models serve`, over gRPC
// (trackwire.v1.PredictionService, on the scoring server's gRPC port, not the
// tracking server's). It asks which model is served and what its signature's
// columns are, sends three rows as a table of named, typed columns, then the
// same rows as one tensor, and checks that a table missing columns is refused
// with INVALID_ARGUMENT naming them.
//
// Usage: node predict.js HOST:PORT   (the --grpc-port of `trackwire models serve`)
//
// Prints `MODEL <model_uri_resolved>`, `PREDICTIONS <json list>` and
// `OK predict`; exits 1 on any unexpected answer.
'use strict';

const path = require('node:path');
const protoLoader = require('@grpc/proto-loader');
const { grpc, unary, expectStatus, check, status, runMain } = require('./lib');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'protos');

// Three rows of four numbers: the iris measurements the tests' model takes.
const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.2, 2.9, 4.3, 1.3],
  [7.7, 3.0, 6.1, 2.3],
];

function predictionClient(target) {
  const definition = protoLoader.loadSync('trackwire/v1/prediction_service.proto', {
    keepCase: true,
    longs: String, // int64 values arrive as decimal strings
    enums: String,
    defaults: true,
    oneofs: true, // `values`, `input` and `output` tell which member is set
    includeDirs: [PROTO_ROOT],
  });
  const v1 = grpc.loadPackageDefinition(definition).trackwire.v1;
  return new v1.PredictionService(target, grpc.credentials.createInsecure());
}

// A Tensor or Column's values as JavaScript numbers / strings / booleans.
function valuesOf(message) {
  const values = message[message.values].values;
  return message.values === 'int64s' ? values.map(Number) : values;
}

// The predictions of a PredictResponse as a flat list (one per row).
function predictionsOf(response) {
  if (response.output === 'tensor') return valuesOf(response.tensor);
  if (response.output === 'table') return valuesOf(response.table.columns[0]);
  throw new Error(`unexpected output ${response.output}`);
}

async function main(target) {
  const client = predictionClient(target);
  try {
    const served = await unary(client, 'GetServedModel', {});
    const columns = JSON.parse(JSON.parse(served.signature_json).inputs).map((c) => c.name);
    check(columns.length === ROWS[0].length, `the model takes ${columns.length} columns`);
    console.log(`MODEL ${served.model_uri_resolved}`);

    // The rows as a table: one column of doubles per signature column.
    const table = {
      columns: columns.map((name, i) => ({ name, doubles: { values: ROWS.map((row) => row[i]) } })),
    };
    const byTable = predictionsOf(await unary(client, 'Predict', { table }));
    check(byTable.length === ROWS.length, `${byTable.length} predictions for ${ROWS.length} rows`);

    // The same rows as one 3x4 tensor, flattened row by row.
    const tensor = { shape: [ROWS.length, columns.length], doubles: { values: ROWS.flat() } };
    const byTensor = predictionsOf(await unary(client, 'Predict', { tensor }));
    check(JSON.stringify(byTensor) === JSON.stringify(byTable), 'tensor and table disagree');

    // A table without the last columns is refused, naming them.
    const partial = { columns: table.columns.slice(0, 1) };
    await expectStatus(unary(client, 'Predict', { table: partial }), status.INVALID_ARGUMENT, columns[1]);

    console.log(`PREDICTIONS ${JSON.stringify(byTable)}`);
    console.log('OK predict');
  } finally {
    client.close();
  }
}

if (require.main === module) runMain(main, 'node predict.js');
