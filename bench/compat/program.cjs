'use strict';
/* global setTimeout, clearTimeout, setInterval, clearInterval, setImmediate, global */

// The program of the compat benchmark (bench/compat.ts): one CommonJS
// program written against the documented @metarhia/jstp 2.x API, run through
// the facade (bench/compat/ours.cjs) and through @metarhia/jstp 2.3.0
// (bench/compat/reference.cjs). The two entry files differ only in their
// require line; everything else is here and takes `jstp` as a parameter.
//
// Roles, by argv[2] (argv[3] is a JSON object of parameters):
//   server              serves application `bench`, echo.echo(x) -> x, on
//                       127.0.0.1 (a port the system chooses); answers
//                       `usage` (CPU time) and `memory` (after global.gc();
//                       start it with --expose-gc) requests; exits on `close`
//   client {port, connections, inFlight, warmupCalls, payloadBytes}
//                       connects, runs a warm-up batch (reports `warm`),
//                       then runs a measured batch of `calls` calls for each
//                       `go` {calls} (reports its `result`, with every
//                       call's latency); on `done` closes and exits
//   hold {port, connections, concurrency}
//                       opens and handshakes `connections` connections,
//                       reports `holding`, and after `release` closes them
//                       and exits
// Messages go over the IPC channel of child_process.fork, as { type, ... }.

const HOST = '127.0.0.1';
const APP = 'bench';
// A batch fails if no call completes for this long (a server gone, a lost reply).
const STALL_MS = 10000;
// A process that is still alive this long after it closed everything fails.
const EXIT_GRACE_MS = 5000;

// Runs `load` (the require of the implementation) with console.warn
// silenced: mdsf, the reference's serializer, warns that its native addon is
// not built and falls back to its JS parser. The warnings are kept.
const loadQuietly = load => {
  const warn = console.warn;
  const warnings = [];
  console.warn = (...args) => {
    warnings.push(args.map(String).join(' '));
  };
  try {
    return { jstp: load(), warnings };
  } finally {
    console.warn = warn;
  }
};

const send = message => {
  if (process.connected) process.send(message);
};

// Set once a client or holder closes its connections (it then disconnects
// on purpose).
let finishing = false;

const describe = error =>
  error instanceof Error ? error.stack || error.message : String(error);

const fail = error => {
  send({ type: 'failed', message: describe(error) });
  console.error(describe(error));
  process.exitCode = 1;
  if (process.connected) process.disconnect();
  // A failed run does not wait for its sockets to drain.
  setTimeout(() => process.exit(1), 1000).unref();
};

// Once everything is closed the process should exit by itself; if it does
// not, what keeps it alive is reported and it fails.
const expectExit = role => {
  setTimeout(() => {
    const resources = process.getActiveResourcesInfo().join(', ');
    console.error(
      `compat bench ${role}: still alive ${EXIT_GRACE_MS} ms after closing ` +
        `everything (active: ${resources})`
    );
    process.exit(2);
  }, EXIT_GRACE_MS).unref();
};

// A 100-byte (ASCII) string with quotes, so that escaping matters.
const makePayload = bytes => {
  const words = ['lorem', 'ipsum', '"quoted"', 'dolor', "it's", 'sit', 'amet'];
  let text = '';
  for (let i = 0; text.length < bytes; i++) {
    text += words[i % words.length] + ' ';
  }
  return text.slice(0, bytes);
};

// --- server -----------------------------------------------------------------

const serve = (jstp, mdsfFallback) => {
  const application = new jstp.Application(APP, {
    echo: {
      echo: (connection, value, callback) => callback(null, value),
    },
  });
  const server = jstp.net.createServer({ applications: [application] });
  let connectionErrors = 0;
  server.on('error', fail);
  // An 'error' event without a listener would throw.
  server.on('connect', connection =>
    connection.on('error', () => {
      connectionErrors++;
    })
  );

  // Collects garbage until heapUsed settles, then reports memory.
  const measureMemory = expect => {
    const started = Date.now();
    const waitForClients = () => {
      const clients = server.getClientsArray().length;
      if (clients !== expect && Date.now() - started < 10000) {
        setTimeout(waitForClients, 20);
        return;
      }
      let rounds = 0;
      let last = Infinity;
      const collect = () => {
        global.gc();
        const heapUsed = process.memoryUsage().heapUsed;
        rounds++;
        if (rounds < 4 || (Math.abs(heapUsed - last) > 1024 && rounds < 10)) {
          last = heapUsed;
          setTimeout(collect, 20);
          return;
        }
        const usage = process.memoryUsage();
        send({
          type: 'memory',
          clients,
          rss: usage.rss,
          heapUsed: usage.heapUsed,
          heapTotal: usage.heapTotal,
          external: usage.external,
          arrayBuffers: usage.arrayBuffers,
        });
      };
      collect();
    };
    waitForClients();
  };

  const close = () => {
    process.off('message', onMessage);
    for (const connection of server.getClientsArray()) connection.close();
    server.close(() => {
      send({ type: 'closed', connectionErrors });
      if (process.connected) process.disconnect();
      expectExit('server');
    });
  };

  const onMessage = message => {
    switch (message && message.type) {
      case 'usage': {
        const { user, system } = process.cpuUsage();
        return send({ type: 'usage', user, system });
      }
      case 'memory':
        if (typeof global.gc !== 'function') {
          return fail(new Error('the server needs --expose-gc'));
        }
        return measureMemory(message.expect);
      case 'close':
        return close();
    }
  };
  process.on('message', onMessage);
  process.once('disconnect', () => {
    if (server.listening) close();
  });

  server.listen(0, HOST, () => {
    send({ type: 'ready', port: server.address().port, mdsfFallback });
  });
};

// --- clients ----------------------------------------------------------------

const connectOne = (jstp, port, callback) => {
  // A client object of its own per connection (connect fills it in); the
  // no-op reconnector keeps reconnect timers from holding the process.
  const client = { reconnector: () => {} };
  jstp.net.connect(APP, client, port, HOST, (error, connection) => {
    if (error) return callback(error);
    callback(null, connection);
  });
};

// Opens `count` connections, at most `concurrency` handshakes at a time.
const connectMany = (jstp, port, count, concurrency, onError, callback) => {
  const connections = [];
  let started = 0;
  let done = 0;
  let failed = false;
  const next = () => {
    if (failed || started === count) return;
    started++;
    connectOne(jstp, port, (error, connection) => {
      if (failed) {
        if (connection) connection.close();
        return;
      }
      if (error) {
        failed = true;
        for (const opened of connections) opened.close();
        return callback(error);
      }
      connection.on('error', onError);
      connections.push(connection);
      if (++done === count) return callback(null, connections);
      next();
    });
  };
  for (let i = 0; i < Math.min(concurrency, count); i++) next();
};

// Closes every connection; `callback` once all have emitted 'close'.
const closeAll = (connections, callback) => {
  let left = connections.length;
  if (left === 0) return setImmediate(callback);
  const timer = setTimeout(() => {
    fail(new Error(`${left} connections did not close within 10 s`));
  }, 10000);
  for (const connection of connections) {
    connection.once('close', () => {
      if (--left === 0) {
        clearTimeout(timer);
        callback();
      }
    });
    connection.close();
  }
};

// Runs `perConnection` calls on each connection, `inFlight` chains per
// connection (each callback starts its chain's next call); every result is
// checked to be exactly [payload].
const runBatch = (connections, inFlight, perConnection, payload, callback) => {
  const total = connections.length * perConnection;
  const latencies = new Float64Array(total);
  const tally = { completed: 0, errors: 0, mismatches: 0, firstError: null };
  let connectionsLeft = connections.length;
  let finished = false;
  let seen = -1;
  let quietSince = Date.now();
  const watchdog = setInterval(() => {
    if (tally.completed !== seen) {
      seen = tally.completed;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= STALL_MS) {
      finished = true;
      clearInterval(watchdog);
      callback(
        new Error(
          `no call completed for ${STALL_MS / 1000} s ` +
            `(${tally.completed} of ${total} calls done)`
        )
      );
    }
  }, 500);
  const started = process.hrtime.bigint();
  connections.forEach((connection, c) => {
    const base = c * perConnection;
    let next = 0;
    let done = 0;
    const issue = () => {
      const slot = base + next++;
      const start = process.hrtime.bigint();
      connection.callMethod('echo', 'echo', [payload], (error, ...results) => {
        latencies[slot] = Number(process.hrtime.bigint() - start);
        tally.completed++;
        if (error) {
          tally.errors++;
          if (tally.firstError === null) tally.firstError = describe(error);
        } else if (results.length !== 1 || results[0] !== payload) {
          tally.mismatches++;
        }
        done++;
        if (finished) return;
        if (next < perConnection) return issue();
        if (done === perConnection && --connectionsLeft === 0) {
          finished = true;
          clearInterval(watchdog);
          const elapsedNs = Number(process.hrtime.bigint() - started);
          callback(null, { latencies, elapsedNs, tally });
        }
      });
    };
    for (let i = 0; i < Math.min(inFlight, perConnection); i++) issue();
  });
};

const runClient = (jstp, params) => {
  const { port, connections: count, inFlight, warmupCalls } = params;
  const payload = makePayload(params.payloadBytes);
  const split = n => Math.max(1, Math.round(n / count));
  let connectionErrors = 0;
  let firstConnectionError = null;
  const onConnectionError = error => {
    connectionErrors++;
    if (firstConnectionError === null) firstConnectionError = describe(error);
  };
  connectMany(jstp, port, count, count, onConnectionError, (error, opened) => {
    if (error) return fail(error);
    runBatch(opened, inFlight, split(warmupCalls), payload, (error, warmup) => {
      if (error) return fail(error);
      const onMessage = message => {
        const type = message && message.type;
        if (type === 'go') {
          const cpuBefore = process.cpuUsage();
          runBatch(opened, inFlight, split(message.calls), payload, (error, batch) => {
            if (error) return fail(error);
            const cpu = process.cpuUsage(cpuBefore);
            send({
              type: 'result',
              latencies: batch.latencies,
              elapsedNs: batch.elapsedNs,
              cpuUs: cpu.user + cpu.system,
              completed: batch.tally.completed,
              errors: batch.tally.errors,
              mismatches: batch.tally.mismatches,
              firstError: batch.tally.firstError,
            });
          });
        } else if (type === 'done') {
          process.off('message', onMessage);
          finishing = true;
          closeAll(opened, () => {
            send({ type: 'closed', connectionErrors, firstConnectionError });
            if (process.connected) process.disconnect();
            expectExit('client');
          });
        }
      };
      process.on('message', onMessage);
      send({
        type: 'warm',
        calls: warmup.latencies.length,
        completed: warmup.tally.completed,
        errors: warmup.tally.errors,
        mismatches: warmup.tally.mismatches,
        firstError: warmup.tally.firstError,
      });
    });
  });
};

const hold = (jstp, params) => {
  let connectionErrors = 0;
  const onConnectionError = () => {
    connectionErrors++;
  };
  const { port, connections: count, concurrency } = params;
  connectMany(jstp, port, count, concurrency, onConnectionError, (error, opened) => {
    if (error) return fail(error);
    process.once('message', message => {
      if (!message || message.type !== 'release') {
        return fail(new Error('expected release'));
      }
      finishing = true;
      closeAll(opened, () => {
        send({ type: 'released', connectionErrors });
        if (process.connected) process.disconnect();
        expectExit('hold');
      });
    });
    send({ type: 'holding', connections: opened.length });
  });
};

const main = ({ jstp, warnings }) => {
  const mdsfFallback = warnings.some(w => w.includes('native addon is not built'));
  const role = process.argv[2];
  const params = process.argv[3] === undefined ? {} : JSON.parse(process.argv[3]);
  // A client whose parent is gone stops at once (a server closes: see serve).
  if (role !== 'server') {
    process.once('disconnect', () => {
      if (!finishing) process.exit(1);
    });
  }
  try {
    switch (role) {
      case 'server':
        return serve(jstp, mdsfFallback);
      case 'client':
        return runClient(jstp, params);
      case 'hold':
        return hold(jstp, params);
      default:
        throw new Error(`usage: ours.cjs|reference.cjs server|client|hold [json] (got ${role})`);
    }
  } catch (error) {
    fail(error);
  }
};

module.exports = { loadQuietly, main };
