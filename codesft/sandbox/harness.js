// The JavaScript harness: what node runs inside the sandboxed child for a `language="javascript"` program.
// Started by codesft/sandbox/node.py as `node [flags] -e <this file> <fd>`; fd is an in-memory file with
// the program and the nonce, read and closed here before the program exists. See docs/sandbox.md.
//
// The program's parts run as classic scripts in this one V8 realm (vm.runInThisContext), in order:
// setup, code, test, each of tests (every one reported, each in a block of its own), then
// check(<entry_point>). Top-level function/var/let/const/class declarations of the code are therefore in
// scope of the tests, as for several <script> tags of a page (and, as there, a name the code declares
// with let/const/class cannot be declared again by the tests); require, module, exports, __filename and
// __dirname are globals (CommonJS style; `import` statements are not supported).
//
// The verdict is not the exit code and not stdout: the harness writes nonce-tagged events to a private
// fd, and `done` only when (1) every stage ran without throwing, (2) the event loop then emptied on its
// own -- node:test tests, promises and timers ran out -- with no uncaught exception or unhandled
// rejection on the way, (3) no process.exit()/reallyExit() came first (outside script mode) and (4) the
// exit code is still 0 (node:test sets 1 when a test fails). Everything used after the program starts
// is captured here first, and all state lives in this closure, out of the program's reach.
(function codesftHarness() {
  'use strict';
  const fs = require('node:fs');
  const vm = require('node:vm');
  const apply = Reflect.apply;
  const writeSync = fs.writeSync;
  const readFileSync = fs.readFileSync;
  const closeSync = fs.closeSync;
  const runInThisContext = vm.runInThisContext;
  const jsonParse = JSON.parse;
  const jsonStringify = JSON.stringify;
  const StringCtor = String;
  const indexOf = String.prototype.indexOf;
  const on = process.on;
  const setImmediateFn = setImmediate;
  const activeResources = process.getActiveResourcesInfo;
  const exitCodeGetter = Object.getOwnPropertyDescriptor(process, 'exitCode').get;
  const reallyExit = process.reallyExit;
  const exit = process.exit;
  const RangeErrorCtor = RangeError;

  const specFd = Number(process.argv[process.argv.length - 1]);
  const spec = jsonParse(readFileSync(specFd, 'utf8'));
  closeSync(specFd);
  const nonce = spec.nonce;
  const channel = spec.channel;

  function clean(text) {
    // Manual escaping: String.prototype.replace and RegExp methods belong to the program once it runs.
    let out = '';
    const n = text.length < 500 ? text.length : 500;
    for (let i = 0; i < n; i++) {
      const c = text[i];
      out += c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : c;
    }
    return out;
  }

  function emit(event, index, info) {
    const line = nonce + '\t' + event + '\t' + (index === undefined ? -1 : index) + '\t' + clean(info || '') + '\n';
    try {
      writeSync(channel, line);
    } catch (e) {
      // The program closed our fd: the parent sees no `done`, the verdict stays failed (the safe direction).
    }
  }

  function describe(err) {
    try {
      if (err !== null && (typeof err === 'object' || typeof err === 'function')) {
        const name = StringCtor(err.name);
        const message = StringCtor(err.message);
        return message ? name + ': ' + message : name;
      }
      return 'uncaught value: ' + StringCtor(err);
    } catch (e) {
      return '<unprintable>';
    }
  }

  function isOutOfMemory(err) {
    try {
      return err instanceof RangeErrorCtor && apply(indexOf, StringCtor(err.message), ['allocation failed']) >= 0;
    } catch (e) {
      return false;
    }
  }

  function printStack(err) {
    // Only the program's frames: the harness's and node's own are noise for whoever debugs the program.
    try {
      const stack = StringCtor(err && err.stack ? err.stack : describe(err));
      let out = '';
      let line = '';
      for (let i = 0; i <= stack.length; i++) {
        const c = i < stack.length ? stack[i] : '\n';
        if (c !== '\n') { line += c; continue; }
        const frame = apply(indexOf, line, ['    at ']) === 0;
        if (!frame || apply(indexOf, line, ['<']) >= 0) out += line + '\n';
        line = '';
      }
      writeSync(2, out);
    } catch (e) {
      // stderr is not the verdict
    }
  }

  const scriptMode = !spec.test && !(spec.tests && spec.tests.length) && !spec.entry_point;
  let stage = 'setup';
  let stagesDone = false;
  let failed = false;
  let explicitExit = false;
  let finishing = false;
  let finished = false;
  let exitCodeSeen = 0;

  function failNow(event, info, code) {
    failed = true;
    emit(event, -1, info);
    apply(reallyExit, process, [code]);
  }

  // An exit the program asks for: the end of a script, an early end otherwise. reallyExit is what
  // process.exit itself calls; wrapping both also sees a program that calls reallyExit directly.
  process.exit = function exitWrapper(code) {
    explicitExit = true;
    return apply(exit, process, [code]);
  };
  process.reallyExit = function reallyExitWrapper(code) {
    explicitExit = true;
    if (!scriptMode && !finished && !failed) {
      emit('fail', -1, stage + ': process.exit(' + StringCtor(code) + ') called before the program finished');
    }
    return apply(reallyExit, process, [code]);
  };

  apply(on, process, ['uncaughtExceptionMonitor', (err) => {
    // Sticky: a handler the program installs may keep the process alive, never make it pass.
    failed = true;
    emit(isOutOfMemory(err) ? 'memory' : 'fail', -1, (stagesDone ? 'async' : stage) + ': ' + describe(err));
  }]);
  apply(on, process, ['unhandledRejection', (reason) => {
    printStack(reason);
    failNow(isOutOfMemory(reason) ? 'memory' : 'fail', (stagesDone ? 'async' : stage) + ': unhandled rejection: '
      + describe(reason), 1);
  }]);

  function busy() {
    // Pending timers, immediates or requests: more of the program is still to run. (Handles such as the
    // stdio pipes are listed whether or not they keep the loop alive, so they are not counted.)
    const list = apply(activeResources, process, []);
    for (let i = 0; i < list.length; i++) {
      const kind = StringCtor(list[i]);
      if (kind === 'Timeout' || kind === 'Immediate' || apply(indexOf, kind, ['Req']) >= 0) return true;
    }
    return false;
  }

  function finish() {
    finishing = false;
    if (finished) return;
    if (failed) apply(reallyExit, process, [1]);  // the failure is reported; the loop has run out
    if (!stagesDone || busy()) return;  // pending work keeps the loop alive: another beforeExit comes after it
    const now = apply(exitCodeGetter, process, []);
    const code = exitCodeSeen !== 0 ? exitCodeSeen : now;
    if (explicitExit && !scriptMode) {
      failNow('fail', 'process.exit() called before the tests finished', 1);
    }
    if (code !== undefined && code !== null && code !== 0) {
      failNow('fail', 'the process set exit code ' + StringCtor(code) + ' (node:test does when a test fails; '
        + 'its report is on stdout)', 1);
    }
    finished = true;
    emit('done');
    // Like os._exit: no exit listener of the program runs after the verdict.
    apply(reallyExit, process, [0]);
  }

  // beforeExit: the loop ran empty. The decision runs one turn later, in an immediate of our own, after
  // checking that nothing else is pending -- so an emitted 'beforeExit' that is not the real end of the
  // loop (the program can emit the event itself) only delays the verdict.
  apply(on, process, ['beforeExit', () => {
    // This listener runs before any the program adds: an exit code node:test set is seen here even if a later
    // listener resets it. Sticky, like every failure.
    const code = apply(exitCodeGetter, process, []);
    if (code !== undefined && code !== null && code !== 0) exitCodeSeen = code;
    if (!finishing && !finished) {
      finishing = true;
      setImmediateFn(finish);
    }
  }]);
  apply(on, process, ['exit', (code) => {
    // Reached by process.exit() and by node's own exits (an uncaught exception); the natural end of the loop
    // never gets here (finish() exits first), so an 'exit' with code 0 and no process.exit() is an emitted one.
    if (finished || failed) return;
    if (scriptMode && explicitExit && code === 0) {
      finished = true;
      emit('done');  // process.exit(0) is the normal end of a script
    } else if (code !== 0) {
      emit('fail', -1, (stagesDone ? 'async' : stage) + ': the process exited with code ' + StringCtor(code));
    }
  }]);

  // A program replacing assert's functions would blind every test that uses them; frozen, they stay node's.
  // (Hardening, not a guarantee: see "Known residual risk" in docs/sandbox.md.)
  const assertModule = require('node:assert');
  Object.freeze(assertModule.strict);
  Object.freeze(assertModule);

  globalThis.require = require;
  globalThis.module = module;
  globalThis.exports = module.exports;
  globalThis.__filename = '/work/main.js';
  globalThis.__dirname = '/work';

  function run(source, filename, block) {
    // Each of `tests` runs in a block of its own, so the snippets may each declare `const assert = ...`.
    if (block) runInThisContext('{' + source + '\n}', { filename: filename });
    else runInThisContext(source, { filename: filename });
  }

  emit('start');
  try {
    if (spec.setup) {
      stage = 'setup';
      run(spec.setup, '<setup>');
    }
    stage = 'code';
    run(spec.code, '<program>');
    if (spec.test) {
      stage = 'test';
      run(spec.test, '<test>');
    }
    const tests = spec.tests || [];
    let anyFailed = false;
    for (let i = 0; i < tests.length; i++) {
      stage = 'tests[' + i + ']';
      try {
        run(tests[i], '<test ' + i + '>', true);
        emit('test_pass', i);
      } catch (err) {
        emit('test_fail', i, describe(err));
        anyFailed = true;
      }
    }
    if (spec.entry_point) {
      stage = 'check';
      const check = runInThisContext('typeof check === "function" ? check : undefined');
      if (check === undefined) throw new ReferenceError('the test defines no check() function but entry_point was given');
      const candidate = runInThisContext('typeof ' + spec.entry_point + ' === "undefined" ? undefined : ' + spec.entry_point);
      if (candidate === undefined) throw new ReferenceError('entry point ' + jsonStringify(spec.entry_point) + ' is not defined by the program');
      check(candidate);  // an async check's rejection is an unhandled rejection, a failure
    }
    if (anyFailed) failNow('fail', 'one or more tests failed', 1);
  } catch (err) {
    printStack(err);
    failNow(isOutOfMemory(err) ? 'memory' : 'fail', stage + ': ' + describe(err), 1);
  }
  stagesDone = true;
  stage = 'async';
})();
