// models.test.mjs - GET /models and /models/{id} come from the upstreams' own GET /models:
// fetched when asked and older than models_refresh_ms (the asking client waits only for an
// upstream's first list), kept while later fetches fail or break the bounds, merged across
// upstreams in config order; a configured `models` list overrides. Driven with the openai SDK
// and raw fetch where the bytes matter; the fake's list is changed with POST /_fake/models.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { startStack, startFake, keyId, waitFor } from './harness.mjs';

const T = { timeout: 30000 };
const REFRESH_MS = 1000;
const TODAY = [
  { id: 'deepseek-flash', object: 'model', owned_by: 'deepseek' },
  { id: 'deepseek-v4-pro', object: 'model', owned_by: 'deepseek' },
];
const TODAY_BYTES = '{"object":"list","data":[{"id":"deepseek-flash","object":"model","owned_by":"deepseek"},'
  + '{"id":"deepseek-v4-pro","object":"model","owned_by":"deepseek"}]}';

async function setFakeModels(url, data) {
  const r = await fetch(url + '/_fake/models', {
    method: 'POST', body: JSON.stringify({ data }), signal: AbortSignal.timeout(5000),
  });
  assert.equal(r.status, 200, await r.text());
  await r.arrayBuffer().catch(() => {});
}

const modelGets = (stats, key) => stats.paths_by_key[key]?.['/models'] || 0;

describe('one upstream, clients bring their own keys', () => {
  const KEY = 'sk-models-own-0001';
  let st;
  before(async () => { st = await startStack({ config: `models_refresh_ms = ${REFRESH_MS}\n` }); });
  after(async () => { await st?.stop(); });
  const ids = async () => (await st.client({ apiKey: KEY }).models.list()).data.map((m) => m.id);

  test('the list is the upstream\'s own, fetched with the asking client\'s key, byte for byte', T, async () => {
    assert.equal(modelGets(await st.fakeStats(), KEY), 0, 'nothing is fetched before a client asks');
    const res = await st.fetch('/models', { auth: KEY });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^application\/json/);
    assert.equal(await res.text(), TODAY_BYTES);
    const v1 = await st.fetch('/v1/models', { auth: KEY });
    assert.equal(await v1.text(), TODAY_BYTES);
    const page = await st.client({ apiKey: KEY }).models.list();
    assert.deepEqual(page.data, TODAY);
    const m = await st.client({ apiKey: KEY }).models.retrieve('deepseek-v4-pro');
    assert.deepEqual({ ...m }, TODAY[1]);
    const one = await st.fetch('/models/deepseek-flash', { auth: KEY });
    assert.equal(await one.text(), '{"id":"deepseek-flash","object":"model","owned_by":"deepseek"}');
    const s = await st.fakeStats();
    assert.equal(modelGets(s, KEY), 1, `one fetch served them all: ${JSON.stringify(s.paths_by_key)}`);
  });

  test('an unknown or retired id is a 404 envelope', T, async () => {
    for (const id of ['nope', 'deepseek-chat', 'deepseek-reasoner']) {
      const res = await st.fetch(`/models/${id}`, { auth: KEY });
      assert.equal(res.status, 404);
      assert.deepEqual(await res.json(), {
        error: { message: `Model Not Exist: '${id}'`, type: 'invalid_request_error', param: 'model', code: 'model_not_found' },
      });
    }
    const e = await st.client({ apiKey: KEY }).models.retrieve('deepseek-chat').catch((x) => x);
    assert.ok(e instanceof OpenAI.NotFoundError, e.constructor.name);
  });

  test('the list follows the upstream\'s: asked after models_refresh_ms, it is fetched again', T, async () => {
    const NEXT = [...TODAY, { id: 'deepseek-v5-preview', object: 'model', owned_by: 'deepseek', context_window: 1048576, effort: { default_level: 'high' } }];
    await setFakeModels(st.fakeUrl, NEXT);
    assert.deepEqual(await ids(), ['deepseek-flash', 'deepseek-v4-pro'], 'within the interval the cached list answers');
    await sleep(REFRESH_MS + 200);
    const before = modelGets(await st.fakeStats(), KEY);
    // the first ask after the interval is answered from the cache at once and starts a fetch
    assert.deepEqual(await ids(), ['deepseek-flash', 'deepseek-v4-pro']);
    assert.ok(await waitFor(async () => modelGets(await st.fakeStats(), KEY) === before + 1, 5000), 'fetched again');
    const res = await st.fetch('/models', { auth: KEY });
    const body = await res.json();
    assert.deepEqual(body.data, NEXT, 'the new list, with the upstream\'s own fields kept');
    const m = await st.client({ apiKey: KEY }).models.retrieve('deepseek-v5-preview');
    assert.equal(m.context_window, 1048576);
    await setFakeModels(st.fakeUrl, TODAY);
  });

  test('an upstream failing its /models keeps the last good list, and is asked again later', T, async () => {
    await sleep(REFRESH_MS + 200);
    await ids(); // picks up TODAY again
    assert.ok(await waitFor(async () => (await ids()).length === 2, 5000));
    await st.setKeyFault(KEY, '500');
    await sleep(REFRESH_MS + 200);
    assert.deepEqual(await ids(), ['deepseek-flash', 'deepseek-v4-pro']);
    const line = new RegExp(`upstream default: GET /models with key ${keyId(KEY)} refused: answered HTTP 500; keeping its last list \\(2 models\\)`);
    assert.ok(await st.waitLog(line, 5000), st.logs().slice(-2000));
    assert.deepEqual(await ids(), ['deepseek-flash', 'deepseek-v4-pro'], 'still the last good list');
    await st.setKeyFault(KEY, null);
    await setFakeModels(st.fakeUrl, [TODAY[0]]);
    // tried again after min(models_refresh_ms, 10 s)
    assert.ok(await waitFor(async () => (await ids()).join() === 'deepseek-flash', 8000, 200), 'recovered');
    await setFakeModels(st.fakeUrl, TODAY);
  });

  test('a hostile /models answer is refused whole and the last list kept', T, async () => {
    await sleep(REFRESH_MS + 200);
    assert.ok(await waitFor(async () => (await ids()).length === 2, 5000, 200));
    const hostile = [
      {
        data: Array.from({ length: 2000 }, (_, i) => ({ id: `spam-${i}`, object: 'model', owned_by: 'x' })),
        log: /GET \/models with key \S+ refused: the answer lists 2000 models, more than 1024; keeping its last list \(2 models\)/,
      },
      {
        data: [{ id: 'huge', object: 'model', owned_by: 'x', pad: 'p'.repeat(600 * 1024) }],
        log: /GET \/models with key \S+ refused: upstream answer exceeds 524288 bytes; keeping its last list \(2 models\)/,
      },
      {
        data: [{ id: 'i'.repeat(257), object: 'model', owned_by: 'x' }],
        log: /GET \/models with key \S+ refused: data\[0\] has no id of 1 to 256 bytes; keeping its last list/,
      },
    ];
    for (const h of hostile) {
      await setFakeModels(st.fakeUrl, h.data);
      await sleep(REFRESH_MS + 200);
      assert.deepEqual(await ids(), ['deepseek-flash', 'deepseek-v4-pro']);
      assert.ok(await st.waitLog(h.log, 5000), st.logs().slice(-1500));
      assert.deepEqual(await ids(), ['deepseek-flash', 'deepseek-v4-pro'], 'the last good list stands');
      await sleep(REFRESH_MS + 200); // past the retry, so the next fetch is the next answer's
    }
    await setFakeModels(st.fakeUrl, TODAY);
  });
});

describe('before any list: the first request waits for the first fetch', () => {
  const DOWN = 'sk-models-down-0002';
  const GOOD = 'sk-models-good-0003';
  let st;
  before(async () => {
    st = await startStack({ config: 'models_refresh_ms = 500\n', fakeArgs: ['--key-fault', `${DOWN}=401`] });
  });
  after(async () => { await st?.stop(); });

  test('no list known and the fetch failed: 502 saying why; a later client\'s key gets the list', T, async () => {
    const res = await st.fetch('/models', { auth: DOWN });
    assert.equal(res.status, 502);
    assert.deepEqual(await res.json(), {
      error: { message: 'no model list yet: upstream default: GET /models: answered HTTP 401', type: 'api_error', param: null, code: null },
    });
    // the failed fetch is retried after min(models_refresh_ms, 10 s); the client waits for it
    await sleep(600);
    const page = await st.client({ apiKey: GOOD }).models.list();
    assert.deepEqual(page.data, TODAY);
    const s = await st.fakeStats();
    assert.equal(modelGets(s, DOWN), 1);
    assert.equal(modelGets(s, GOOD), 1);
  });
});

describe('several upstreams with server keys', () => {
  const K1 = 'sk-models-one-0004';
  const K2 = 'sk-models-two-0005';
  const K3 = 'sk-models-three-0006';
  const CLIENT = 'sk-models-client-0007';
  let st;
  let fake2;
  before(async () => {
    fake2 = await startFake();
    await setFakeModels(fake2.url, [
      { id: 'deepseek-v4-pro', object: 'model', owned_by: 'second' },
      { id: 'r1-distill', object: 'model', owned_by: 'vllm', max_model_len: 32768 },
    ]);
    st = await startStack({
      config: (fakeUrl) => `models_refresh_ms = 600000
[upstream one]
url = ${fakeUrl}
api_key = ${K1}
[upstream two]
url = ${fake2.url}
api_key = ${K2}
[upstream three]
url = ${fake2.url}
api_key = ${K3}
models = local-r1, deepseek-flash
`,
    });
  });
  after(async () => { await st?.stop(); await fake2?.stop(); });

  test('merged in config order, an id once as its first upstream lists it; a configured list is not fetched', T, async () => {
    const res = await st.fetch('/models', { auth: CLIENT });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '{"object":"list","data":['
      + '{"id":"deepseek-flash","object":"model","owned_by":"deepseek"},'
      + '{"id":"deepseek-v4-pro","object":"model","owned_by":"deepseek"},'
      + '{"id":"r1-distill","object":"model","owned_by":"vllm","max_model_len":32768},'
      + '{"id":"local-r1","object":"model","owned_by":"deepseek"}]}');
    const m = await st.client({ apiKey: CLIENT }).models.retrieve('r1-distill');
    assert.equal(m.owned_by, 'vllm');
    const s1 = await st.fakeStats();
    const s2 = await (await fetch(fake2.url + '/_fake/stats')).json();
    assert.equal(modelGets(s1, K1), 1, 'upstream one fetched with its own server key');
    assert.equal(modelGets(s2, K2), 1, 'upstream two fetched with its own server key');
    assert.equal(s2.by_key[K3], undefined, 'upstream three has a models line: never asked');
    assert.equal(s1.by_key[CLIENT], undefined, 'the client\'s key is not sent upstream with server keys');
  });

  test('a reload keeps the lists of the upstreams it keeps', T, async () => {
    st.seekd.kill('SIGHUP');
    assert.ok(await st.waitLog(/reload: settings applied/, 5000));
    const page = await st.client({ apiKey: CLIENT }).models.list();
    assert.deepEqual(page.data.map((x) => x.id), ['deepseek-flash', 'deepseek-v4-pro', 'r1-distill', 'local-r1']);
    assert.equal(modelGets(await st.fakeStats(), K1), 1, 'not fetched again');
  });
});

describe('a top-level models line', () => {
  let st;
  before(async () => { st = await startStack({ config: 'models = my-a, my-b, my-a\n' }); });
  after(async () => { await st?.stop(); });

  test('is the whole list, and nothing is fetched', T, async () => {
    const res = await st.fetch('/models');
    assert.equal(await res.text(), '{"object":"list","data":[{"id":"my-a","object":"model","owned_by":"deepseek"},'
      + '{"id":"my-b","object":"model","owned_by":"deepseek"}]}');
    assert.equal((await st.fetch('/models/deepseek-flash')).status, 404);
    assert.equal((await st.fakeStats()).requests, 0);
  });
});
