// Ember's Node.js runtime client. It loads the handler named by _HANDLER from LAMBDA_TASK_ROOT
// and loops on the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API) as AWS's Node.js runtime does:
// ES modules and CommonJS, async, promise and callback handlers, Lambda's context object, and
// console output in Lambda's text log format. It uses only Node.js built-ins.

import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { format } from 'node:util';

const env = process.env;
const selfPath = fileURLToPath(import.meta.url);
const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');

// ---- console: Lambda's text format, one log event per call ----

function patchConsole() {
  const levels = { log: 'INFO', info: 'INFO', warn: 'WARN', error: 'ERROR', debug: 'DEBUG', trace: 'TRACE' };
  const write = (level, args) => {
    const line = `${new Date().toISOString()}\t${globalThis[REQUEST_ID]}\t${level}\t${format(...args)}`;
    process.stdout.write(line.replace(/\n/g, '\r') + '\n');
  };
  for (const [name, level] of Object.entries(levels)) {
    console[name] = (...args) => write(level, args);
  }
  console.fatal = (...args) => write('FATAL', args);
  return write;
}

const log = patchConsole();

// ---- the Runtime API ----

const [apiHost, apiPort] = (() => {
  const api = env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001';
  const i = api.lastIndexOf(':');
  return [api.slice(0, i), Number(api.slice(i + 1))];
})();
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const base = '/2018-06-01/runtime';

function call(method, urlPath, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: apiHost, port: apiPort, method, path: base + urlPath, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function post(urlPath, body, headers = {}) {
  const buf = Buffer.from(body, 'utf8');
  return call('POST', urlPath, buf, { 'Content-Type': 'application/json', 'Content-Length': buf.length, ...headers });
}

// ---- errors, as AWS's runtime reports them ----

function isError(e) {
  return e instanceof Error || (e !== null && typeof e === 'object' && typeof e.name === 'string' &&
    typeof e.message === 'string' && typeof e.stack === 'string');
}

function errorDoc(e) {
  try {
    if (isError(e)) {
      return { errorType: e.name, errorMessage: e.message, trace: String(e.stack).split('\n') };
    }
    return { errorType: typeof e, errorMessage: String(e), trace: [] };
  } catch {
    return { errorType: 'handled', errorMessage: 'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack' };
  }
}

// A RuntimeError is a failure the runtime itself names (Runtime.ImportModuleError, ...).
class RuntimeError extends Error {
  constructor(type, message, cause) {
    super(message);
    this.name = type;
    if (cause && cause.stack) this.stack = `${type}: ${message}\n` + String(cause.stack).split('\n').slice(1).join('\n');
  }
}

function logError(prefix, e) {
  const d = errorDoc(e);
  log('ERROR', [prefix, JSON.stringify({ errorType: d.errorType, errorMessage: d.errorMessage, stack: d.trace })]);
}

async function postError(urlPath, e) {
  const d = errorDoc(e);
  let body;
  try {
    body = JSON.stringify(d);
  } catch {
    body = JSON.stringify({ errorType: 'Runtime.SerializationError', errorMessage: 'error could not be serialized' });
  }
  return post(urlPath, body, { 'Lambda-Runtime-Function-Error-Type': d.errorType });
}

// ---- loading the handler ----

function findModule(root, name) {
  for (const ext of ['.js', '.mjs', '.cjs']) {
    const p = path.join(root, name + ext);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

// isESM says whether a .js file is an ES module: the nearest package.json says "type": "module".
function isESM(file) {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      return pkg.type === 'module';
    } catch (e) {
      if (e.code !== 'ENOENT') return false;
    }
    if (dir === path.dirname(dir)) return false;
  }
}

async function loadModule(root, name) {
  const file = findModule(root, name);
  const require = createRequire(path.join(root, 'index.js'));
  if (file === null) {
    // Not a file beside the handler: a package on the module path, as require finds one.
    return require(name);
  }
  if (file.endsWith('.mjs') || (file.endsWith('.js') && isESM(file))) {
    return import(pathToFileURL(file).href);
  }
  try {
    return require(file);
  } catch (e) {
    // Node.js decides a module's format itself; an ES module it will not require is imported.
    if (e && (e.code === 'ERR_REQUIRE_ESM' || e.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
      return import(pathToFileURL(file).href);
    }
    throw e;
  }
}

async function loadHandler(taskRoot, handlerString) {
  const slash = handlerString.lastIndexOf('/');
  const rel = handlerString.slice(0, slash + 1);
  const moduleAndHandler = handlerString.slice(slash + 1);
  const m = /^([^.]*)\.(.*)$/.exec(moduleAndHandler);
  if (!m) {
    throw new RuntimeError('Runtime.MalformedHandlerName', 'Bad handler');
  }
  if (handlerString.includes('..')) {
    throw new RuntimeError('Runtime.MalformedHandlerName',
      `'${handlerString}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`);
  }
  const [, moduleName, handlerPath] = m;
  let mod;
  try {
    mod = await loadModule(path.resolve(taskRoot, rel), moduleName);
  } catch (e) {
    if (e instanceof SyntaxError) {
      throw new RuntimeError('Runtime.UserCodeSyntaxError', `${e.name}: ${e.message}`, e);
    }
    if (e && (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND')) {
      let msg = `Error: ${e.message}`;
      if (e.code === 'MODULE_NOT_FOUND' && !e.message.includes('Require stack')) {
        msg = `Error: Cannot find module '${moduleName}'\nRequire stack:\n- ${selfPath}`;
      }
      throw new RuntimeError('Runtime.ImportModuleError', msg, e);
    }
    throw e;
  }
  let fn = mod;
  for (const part of handlerPath.split('.')) {
    fn = fn == null ? undefined : fn[part];
  }
  if (fn === undefined || fn === null) {
    throw new RuntimeError('Runtime.HandlerNotFound', `${moduleAndHandler} is undefined or not exported`);
  }
  if (typeof fn !== 'function') {
    throw new RuntimeError('Runtime.HandlerNotFound', `${moduleAndHandler} is not a function`);
  }
  return fn;
}

// ---- one invocation ----

function parseJSONHeader(v) {
  if (!v) return undefined;
  try {
    return JSON.parse(v);
  } catch {
    return undefined;
  }
}

function makeContext(headers, settle) {
  const deadline = Number(headers['lambda-runtime-deadline-ms']);
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
    done: (err, result) => settle(err, result, false),
    succeed: (result) => settle(null, result, false),
    fail: (err) => settle(err ?? 'handled', undefined, false),
  };
  const clientContext = parseJSONHeader(headers['lambda-runtime-client-context']);
  if (clientContext !== undefined) context.clientContext = clientContext;
  const identity = parseJSONHeader(headers['lambda-runtime-cognito-identity']);
  if (identity !== undefined) context.identity = identity;
  return context;
}

// invoke runs the handler for one event and resolves with [error, result] once the invocation
// is over: when its promise settles, or when its callback was called (and, unless the handler
// said otherwise, the event loop has emptied).
function invoke(handler, event, headers) {
  return new Promise((resolve) => {
    let done = false;
    let pending = null; // a callback's outcome waiting for the event loop to empty
    const finish = (err, result) => {
      if (done) return;
      done = true;
      process.removeListener('beforeExit', onBeforeExit);
      resolve([err, result]);
    };
    const onBeforeExit = () => {
      // The event loop is empty: a callback's outcome may go now, and a handler that never
      // called back returns null, as on Lambda.
      if (pending) finish(pending[0], pending[1]);
      else finish(null, null);
    };
    const settle = (err, result, wait) => {
      if (done || pending) return;
      if (wait && context.callbackWaitsForEmptyEventLoop) {
        pending = [err, result];
        return;
      }
      finish(err, result);
    };
    const context = makeContext(headers, settle);
    const callback = (err, result) => settle(err, result, true);
    process.on('beforeExit', onBeforeExit);
    let out;
    try {
      out = handler(event, context, callback);
    } catch (e) {
      finish(e, undefined);
      return;
    }
    if (out !== null && (typeof out === 'object' || typeof out === 'function') && typeof out.then === 'function') {
      out.then((v) => finish(null, v), (e) => finish(e ?? 'handled', undefined));
    }
  });
}

// ---- the loop ----

let current = null; // the request id of the invocation in flight

async function failCurrent(e, prefix) {
  logError(prefix, e);
  if (current) {
    const id = current;
    current = null;
    try {
      await postError(`/invocation/${id}/error`, e);
    } catch {}
  }
  process.exit(129);
}

async function main() {
  process.on('uncaughtException', (e) => failCurrent(e, 'Uncaught Exception '));
  process.on('unhandledRejection', (reason) => {
    const e = isError(reason) ? reason : new RuntimeError('Runtime.UnhandledPromiseRejection', String(reason));
    failCurrent(e, 'Unhandled Promise Rejection ');
  });

  const taskRoot = env.LAMBDA_TASK_ROOT || process.cwd();
  let handler;
  try {
    handler = await loadHandler(taskRoot, env._HANDLER || '');
  } catch (e) {
    logError('Uncaught Exception ', e);
    await postError('/init/error', e);
    // The worker ends the sandbox; stay alive until it does, so the init error is what it sees.
    setInterval(() => {}, 1 << 30);
    return;
  }

  for (;;) {
    const next = await call('GET', '/invocation/next');
    if (next.status !== 200) {
      throw new Error(`Runtime API /next answered ${next.status}: ${next.body}`);
    }
    const h = next.headers;
    const id = h['lambda-runtime-aws-request-id'];
    current = id;
    globalThis[REQUEST_ID] = id;
    if (h['lambda-runtime-trace-id']) env._X_AMZN_TRACE_ID = h['lambda-runtime-trace-id'];
    else delete env._X_AMZN_TRACE_ID;

    let event;
    try {
      event = JSON.parse(next.body.length ? next.body.toString('utf8') : 'null');
    } catch (e) {
      const err = new RuntimeError('Runtime.UnmarshalError', `Unable to parse event: ${e.message}`);
      logError('Invoke Error ', err);
      current = null;
      await postError(`/invocation/${id}/error`, err);
      continue;
    }
    const [err, result] = await invoke(handler, event, h);
    if (current !== id) continue; // already answered by an uncaught exception
    current = null;
    if (err !== null && err !== undefined) {
      logError('Invoke Error ', err);
      await postError(`/invocation/${id}/error`, err);
      continue;
    }
    let body;
    try {
      body = JSON.stringify(result === undefined ? null : result);
    } catch (e) {
      const merr = new RuntimeError('Runtime.MarshalError', `Unable to stringify response body: ${e.message}`, e);
      logError('Invoke Error ', merr);
      await postError(`/invocation/${id}/error`, merr);
      continue;
    }
    await post(`/invocation/${id}/response`, body);
  }
}

main().catch((e) => {
  logError('Runtime Error ', e);
  process.exit(1);
});
