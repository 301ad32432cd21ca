// Shared plumbing for the Node.js examples: loads Trackwire's .proto files at
// run time (no code generation), makes one client per service, and wraps the
// four kinds of gRPC call in promises.
//
// Everything here is what an outside team needs from the protos alone:
//   - the services are trackwire.v1.TrackingService, trackwire.v1.ArtifactService,
//     trackwire.v1.ModelRegistryService and trackwire.v1.AuthService, plus the
//     standard grpc.health.v1.Health on the same port;
//   - a server with authentication (`trackwire server --auth`) wants
//     `authorization: Bearer <token>` metadata on every call: set
//     $TRACKWIRE_TOKEN and every call made through connect() carries it;
//   - errors are standard gRPC status codes (grpc.status.*) with a message
//     naming the field at fault.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

// The repository's protos; the examples read them in place.
const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'protos');
// The standard health-checking protocol (grpc/grpc doc/health-checking.md), shipped
// with ours in ../../protos.
const HEALTH_PROTO = 'grpc/health/v1/health.proto';

const LOADER_OPTIONS = {
  keepCase: true, // field names as in the .proto (run_id, not runId)
  longs: String, // int64 arrive as decimal strings: convert with Number(...)
  enums: String, // enums arrive as their names, e.g. 'RUN_STATUS_FINISHED'
  defaults: true, // unset scalars and repeated fields arrive as 0 / '' / []
  oneofs: true,
};

const DEADLINE_MS = 60 * 1000;

function loadPackages() {
  const trackwireDefinition = protoLoader.loadSync(
    [
      'trackwire/v1/tracking_service.proto',
      'trackwire/v1/artifact_service.proto',
      'trackwire/v1/model_registry_service.proto',
      'trackwire/v1/auth_service.proto',
    ],
    // includeDirs makes `import "trackwire/v1/..."` resolve; proto-loader ships
    // google/protobuf/*.proto (Timestamp, Duration) itself.
    { ...LOADER_OPTIONS, includeDirs: [PROTO_ROOT] },
  );
  const healthDefinition = protoLoader.loadSync(HEALTH_PROTO, {
    ...LOADER_OPTIONS,
    includeDirs: [PROTO_ROOT],
  });
  return {
    trackwire: grpc.loadPackageDefinition(trackwireDefinition).trackwire.v1,
    health: grpc.loadPackageDefinition(healthDefinition).grpc.health.v1,
  };
}

const packages = loadPackages();

// Where and how to connect, from a target as the Python client takes it:
//   HOST:PORT or grpc://HOST:PORT  plaintext;
//   grpcs://HOST:PORT              TLS: the server's certificate is checked against
//                                  Node's CAs, or those in the PEM file $TRACKWIRE_TLS_CA;
//                                  for a server that requires client certificates (mutual
//                                  TLS), $TRACKWIRE_TLS_CLIENT_CERT and
//                                  $TRACKWIRE_TLS_CLIENT_KEY name the PEM files to present;
//   grpc://A:P,B:P,... (grpcs:// the same)  a fleet of servers given by IP address
//                                  (an IPv6 one in brackets), which becomes gRPC's own
//                                  address list (ipv4:A:P,B:P); host names in a list are
//                                  refused here (use dns:///NAME:PORT, or resolve them);
//   dns:///NAME:PORT               every address of NAME, by gRPC's DNS resolver.
// Every channel gets the service config in service_config.json (a copy of what
// `python -m trackwire_protocol.service_config` prints, kept in step by a test): calls
// spread round-robin over the target's addresses, and those safe to repeat are retried
// on UNAVAILABLE.
function channelTarget(target) {
  let rest = target;
  let credentials = grpc.credentials.createInsecure();
  if (target.startsWith('grpcs://')) {
    const pem = (name) => (process.env[name] ? fs.readFileSync(process.env[name]) : null);
    const key = pem('TRACKWIRE_TLS_CLIENT_KEY');
    const cert = pem('TRACKWIRE_TLS_CLIENT_CERT');
    if (!key !== !cert) {
      throw new Error('TRACKWIRE_TLS_CLIENT_CERT and TRACKWIRE_TLS_CLIENT_KEY go together: set both');
    }
    rest = target.slice('grpcs://'.length);
    credentials = grpc.credentials.createSsl(pem('TRACKWIRE_TLS_CA'), key, cert);
  } else if (target.startsWith('grpc://')) {
    rest = target.slice('grpc://'.length);
  } else if (target.startsWith('dns:')) {
    return { address: target.replace(/\/+$/, ''), credentials, options: {} };
  }
  const entries = rest.replace(/\/+$/, '').split(',').map((entry) => entry.trim());
  if (entries.length === 1) {
    return { address: entries[0], credentials, options: {} };
  }
  const hostOf = (entry) => {
    const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d+)$/.exec(entry);
    if (!match) {
      throw new Error(`target '${target}': '${entry}' is not host:port`);
    }
    return match[1] !== undefined ? { host: match[1], family: 6 } : { host: match[2], family: 4 };
  };
  const hosts = entries.map(hostOf);
  const names = hosts.filter(({ host, family }) => family === 4 && !/^\d+\.\d+\.\d+\.\d+$/.test(host));
  if (names.length) {
    throw new Error(
      `target '${target}': a list takes IP addresses here (${names[0].host} is a name): ` +
        'use dns:///NAME:PORT for a fleet behind one name',
    );
  }
  const families = new Set(hosts.map(({ family }) => family));
  if (families.size > 1) {
    throw new Error(`target '${target}' mixes IPv4 and IPv6 servers`);
  }
  return {
    address: `${families.has(6) ? 'ipv6' : 'ipv4'}:${entries.join(',')}`,
    credentials,
    // Calls (and TLS's check of the certificate) name the first server.
    options: { 'grpc.default_authority': entries[0] },
  };
}

const SERVICE_CONFIG = fs.readFileSync(path.join(__dirname, 'service_config.json'), 'utf8');

// An interceptor adding `authorization: Bearer <token>` to every call's metadata
// (unary and streaming alike). An interceptor rather than call credentials:
// gRPC refuses call credentials on a plaintext channel, and a loopback server
// without TLS is the common case.
function bearerInterceptor(token) {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set('authorization', `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}

// One client per service, all on one channel to `target` (see channelTarget);
// `token` (default: $TRACKWIRE_TOKEN) goes with every call when set.
function connect(target, token = process.env.TRACKWIRE_TOKEN) {
  const { address, credentials, options: targetOptions } = channelTarget(target);
  target = address;
  const interceptors = token ? [bearerInterceptor(token)] : [];
  const tracking = new packages.trackwire.TrackingService(target, credentials, {
    interceptors,
    'grpc.service_config': SERVICE_CONFIG,
    'grpc.initial_reconnect_backoff_ms': 250,
    'grpc.max_reconnect_backoff_ms': 2000,
    // Connections of its own: gRPC otherwise shares one per address between a process's
    // channels, and a new client to a server that replaced a dead one on its port
    // inherits an older client's backoff (failing at once with UNAVAILABLE).
    'grpc.use_local_subchannel_pool': 1,
    ...targetOptions,
  });
  // Further clients share the first one's channel.
  const options = { channelOverride: tracking.getChannel(), interceptors };
  return {
    tracking,
    artifacts: new packages.trackwire.ArtifactService(target, credentials, options),
    registry: new packages.trackwire.ModelRegistryService(target, credentials, options),
    auth: new packages.trackwire.AuthService(target, credentials, options),
    health: new packages.health.Health(target, credentials, options),
    close() {
      tracking.close();
    },
  };
}

// An Error for a failed call, keeping its gRPC status code and details.
function callError(method, err) {
  const error = new Error(`${method} failed: ${grpc.status[err.code]} (${err.code}): ${err.details || err.message}`);
  error.code = err.code;
  error.details = err.details || err.message;
  return error;
}

function deadline() {
  return { deadline: Date.now() + DEADLINE_MS };
}

// A unary call: resolves to the response message.
function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, deadline(), (err, response) => {
      if (err) reject(callError(method, err));
      else resolve(response);
    });
  });
}

// A server-streaming call: resolves to every message sent, in order.
function serverStream(client, method, request) {
  return new Promise((resolve, reject) => {
    const call = client[method](request, deadline());
    const messages = [];
    call.on('data', (message) => messages.push(message));
    call.on('error', (err) => reject(callError(method, err)));
    call.on('end', () => resolve(messages));
  });
}

// A client-streaming call: writes every request, half-closes, and resolves to
// the one response.
function clientStream(client, method, requests) {
  return new Promise((resolve, reject) => {
    const call = client[method](deadline(), (err, response) => {
      if (err) reject(callError(method, err));
      else resolve(response);
    });
    for (const request of requests) call.write(request);
    call.end();
  });
}

// Expects `promise` to fail with the gRPC status `code` (a grpc.status value)
// and its details to mention `field`; resolves to the error.
async function expectStatus(promise, code, field) {
  let error = null;
  try {
    await promise;
  } catch (err) {
    error = err;
  }
  if (error === null) throw new Error(`expected ${grpc.status[code]}, the call succeeded`);
  if (error.code !== code) {
    throw new Error(`expected ${grpc.status[code]}, got ${error.message}`);
  }
  if (field && !error.details.includes(field)) {
    throw new Error(`expected the error to name "${field}": ${error.details}`);
  }
  return error;
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// Milliseconds since the epoch as a google.protobuf.Timestamp.
function timestamp(ms) {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

// Metric points as one MetricPoints message (the only wire shape of metric
// points): each key once in `keys`, and per point its index in `keys`.
// `points` is a list of { key, value, step, timestamp_ms }.
function metricPoints(points) {
  const keys = [];
  const position = new Map();
  const keyIndex = [];
  for (const { key } of points) {
    if (!position.has(key)) {
      position.set(key, keys.length);
      keys.push(key);
    }
    keyIndex.push(position.get(key));
  }
  return {
    keys,
    key_index: keys.length > 1 ? keyIndex : [], // may be empty with one key
    values: points.map((p) => p.value),
    steps: points.map((p) => p.step || 0), // empty would mean "every step is 0"
    timestamps_ms: points.map((p) => p.timestamp_ms || 0), // 0: the time received
  };
}

// A MetricPoints message back as a list of { key, value, step, timestamp_ms }.
function pointsOf(message) {
  return message.values.map((value, i) => ({
    key: message.keys[message.key_index.length ? message.key_index[i] : 0],
    value,
    step: message.steps.length ? Number(message.steps[i]) : 0,
    timestamp_ms: Number(message.timestamps_ms[i]),
  }));
}

// Runs `main(target)` from the command line: exits 0 on success and 1 (after
// printing the error) on any failure.
function runMain(main, usage) {
  const target = process.argv[2];
  if (!target || process.argv.length !== 3) {
    console.error(`usage: ${usage} HOST:PORT | grpcs://HOST:PORT`);
    process.exit(1);
  }
  main(target).then(
    () => process.exit(0),
    (err) => {
      console.error(`ERROR: ${err.message}`);
      process.exit(1);
    },
  );
}

module.exports = {
  grpc,
  status: grpc.status,
  connect,
  channelTarget,
  unary,
  serverStream,
  clientStream,
  expectStatus,
  check,
  timestamp,
  metricPoints,
  pointsOf,
  runMain,
};
