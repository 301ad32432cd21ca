#!/usr/bin/env node
// Drives every RPC of trackwire.v1.ArtifactService from Node.js: uploads a
// file in chunks, lists the run's artifacts, downloads the file back and
// compares it byte for byte; asks for direct transfers (a local root answers
// STREAM); then a few refusals.
//
// Usage: node artifacts.js HOST:PORT
//
// Prints `RUN <id>`, `ARTIFACT <path> <bytes> <sha256>` and
// `OK artifacts <n> RPCs`; exits 1 on any unexpected answer.
'use strict';

const crypto = require('node:crypto');
const { connect, unary, serverStream, clientStream, expectStatus, check, status, runMain } = require('./lib');

const CHUNK_BYTES = 64 * 1024; // well under ServerLimits.max_upload_chunk_bytes

// The file's bytes as UploadArtifactRequest messages: the first carries the
// header (which run, which path), every message carries the next bytes.
function uploadRequests(runId, path, bytes) {
  const requests = [{ header: { run_id: runId, path }, data: bytes.subarray(0, CHUNK_BYTES) }];
  for (let offset = CHUNK_BYTES; offset < bytes.length; offset += CHUNK_BYTES) {
    requests.push({ data: bytes.subarray(offset, offset + CHUNK_BYTES) });
  }
  return requests;
}

async function exercise(clients, runId) {
  const { artifacts } = clients;
  const called = new Set();

  // 300 KiB of random bytes: five chunks.
  const bytes = crypto.randomBytes(300 * 1024);
  const path = 'node/data.bin';
  const uploaded = await clientStream(artifacts, 'UploadArtifact', uploadRequests(runId, path, bytes));
  called.add('UploadArtifact');
  check(uploaded.file.path === path && Number(uploaded.file.file_size) === bytes.length,
    `UploadArtifact stored ${JSON.stringify(uploaded.file)}`);
  await clientStream(artifacts, 'UploadArtifact', uploadRequests(runId, 'node/notes.txt', Buffer.from('hello from node\n')));

  // Lists one folder level at a time: the root holds the folder "node".
  const root = await unary(artifacts, 'ListArtifacts', { run_id: runId, path: '' });
  called.add('ListArtifacts');
  check(root.files.some((f) => f.path === 'node' && f.is_dir), 'ListArtifacts: no folder "node"');
  const folder = await unary(artifacts, 'ListArtifacts', { run_id: runId, path: 'node' });
  const names = folder.files.map((f) => f.path).sort();
  check(names.join() === 'node/data.bin,node/notes.txt', `ListArtifacts listed ${names}`);

  const chunks = await serverStream(artifacts, 'DownloadArtifact', { run_id: runId, path });
  called.add('DownloadArtifact');
  const downloaded = Buffer.concat(chunks.map((c) => c.data));
  check(downloaded.equals(bytes), `DownloadArtifact returned ${downloaded.length} other bytes`);

  // Refusals: a path escaping the run's folder, a missing file, no header.
  await expectStatus(
    clientStream(artifacts, 'UploadArtifact', uploadRequests(runId, '../escape.txt', Buffer.from('x'))),
    status.INVALID_ARGUMENT,
    'path',
  );
  await expectStatus(serverStream(artifacts, 'DownloadArtifact', { run_id: runId, path: 'node/missing.bin' }),
    status.NOT_FOUND);
  await expectStatus(clientStream(artifacts, 'UploadArtifact', [{ data: Buffer.from('x') }]),
    status.INVALID_ARGUMENT, 'header');

  // Direct transfers (artifact_service.proto): a server whose artifacts are in an object
  // store answers presigned URLs, and the client PUTs/GETs the bytes itself. This run's
  // artifacts are in a local folder, so the server says to stream (as above), and has no
  // upload of the store to complete or abort.
  const start = await unary(artifacts, 'StartArtifactUpload',
    { run_id: runId, path: 'node/direct.bin', size_bytes: bytes.length });
  called.add('StartArtifactUpload');
  check(start.method === 'TRANSFER_METHOD_STREAM', `StartArtifactUpload answered ${start.method}`);
  const url = await unary(artifacts, 'GetArtifactDownloadUrl', { run_id: runId, path });
  called.add('GetArtifactDownloadUrl');
  check(url.method === 'TRANSFER_METHOD_STREAM', `GetArtifactDownloadUrl answered ${url.method}`);
  const upload = { run_id: runId, path: 'node/direct.bin', upload_id: 'none' };
  await expectStatus(unary(artifacts, 'CompleteArtifactUpload', { ...upload, size_bytes: 1 }),
    status.FAILED_PRECONDITION);
  called.add('CompleteArtifactUpload');
  await expectStatus(unary(artifacts, 'AbortArtifactUpload', upload), status.FAILED_PRECONDITION);
  called.add('AbortArtifactUpload');

  const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
  return { path, size: bytes.length, sha256, rpcs: [...called].sort() };
}

async function main(target) {
  const clients = connect(target);
  try {
    // A run to hold the files.
    const name = `node-artifacts-${Date.now()}-${crypto.randomBytes(4).toString('hex')}`;
    const { experiment } = await unary(clients.tracking, 'CreateExperiment', { name });
    const { run } = await unary(clients.tracking, 'CreateRun', { experiment_id: experiment.experiment_id });
    const { path, size, sha256, rpcs } = await exercise(clients, run.info.run_id);
    console.log(`RUN ${run.info.run_id}`);
    console.log(`ARTIFACT ${path} ${size} ${sha256}`);
    console.log(`OK artifacts ${rpcs.length} RPCs`);
  } finally {
    clients.close();
  }
}

module.exports = { exercise };

if (require.main === module) runMain(main, 'node artifacts.js');
