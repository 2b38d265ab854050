// The explorer's pages: a hash router over the JSON API (src/explore/types.ts has the shapes).
// Charts are Vega-Lite specs rendered by vega-embed (tooltips; scroll to zoom where bound).
const main = document.getElementById('main');
let catalog = null;

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const fmt = (v, d = 3) => (v === null || v === undefined ? '∞' : Number.isFinite(v) ? (+v).toFixed(d) : String(v));
const pct = (v) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : `${(100 * v).toFixed(1)}%`);
const enc = encodeURIComponent;
const neuronLink = (id, n) => `<a href="#/neuron/${enc(id)}/${n.neuron}">${n.neuron}</a>`;

async function api(path, init) {
  const r = await fetch(path, init);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error ?? `HTTP ${r.status}`);
  return body;
}

function chart(el, spec) {
  // eslint-disable-next-line no-undef
  return vegaEmbed(
    el,
    { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', width: 'container', ...spec },
    { actions: false, tooltip: true },
  ).catch((e) => {
    el.textContent = `chart failed: ${e.message}`;
  });
}

function histSpec(h, title, x, y = 'inputs') {
  const values = h.counts.map((c, i) => ({ lo: h.edges[i], hi: h.edges[i + 1], count: c }));
  return {
    title,
    height: 180,
    data: { values },
    mark: 'bar',
    params: [{ name: 'zoom', select: 'interval', bind: 'scales', encodings: ['x'] }],
    encoding: {
      x: { field: 'lo', type: 'quantitative', bin: { binned: true }, title: x },
      x2: { field: 'hi' },
      y: { field: 'count', type: 'quantitative', title: y },
      tooltip: [{ field: 'lo', format: '.3f' }, { field: 'hi', format: '.3f' }, { field: 'count' }],
    },
  };
}

function model(id) {
  const m = catalog.models.find((x) => x.id === id);
  if (!m) throw new Error(`no model '${id}'`);
  return m;
}

const imgUrl = (m, i) => `/api/models/${enc(m)}/inputs/${i}/image.png`;

function params() {
  const q = location.hash.split('?')[1] ?? '';
  return new URLSearchParams(q);
}

/** A report figure's spec with tooltips on every point and zoom / pan bound to the scales. */
function interactive(spec) {
  const s = structuredClone(spec);
  s.width = 560;
  s.height = 320;
  s.layer.push({
    params: [{ name: 'zoom', select: 'interval', bind: 'scales' }],
    mark: { type: 'point', size: 80, opacity: 0.01 },
    encoding: {
      tooltip: [
        { field: 's', title: 'series' },
        { field: 'x', format: '.4~g' },
        { field: 'y', format: '.4~g' },
      ],
    },
  });
  return s;
}

// ---------------------------------------------------------------- overview
async function overview() {
  let html =
    '<h1>Overview</h1><h2>Models</h2><table><tr><th>model</th><th>architecture</th><th>data set</th><th>test accuracy</th>' +
    '<th>features</th><th>Deltas</th><th>attack folders</th><th></th></tr>';
  for (const m of catalog.models) {
    const attacks =
      m.attacks
        .map(
          (a) =>
            `${esc(a.norm)} ${esc(a.attack)}${a.version ? ` ${esc(a.version)}` : ''} eps ${fmt(a.eps)}: ` +
            (a.family === 'autoattack' ? `robust accuracy ${pct(a.robustAccuracy)} of ${a.count}` : `${pct(a.successRate)} of ${a.count}`),
        )
        .join('<br>') || '–';
    html +=
      `<tr><td>${esc(m.id)}</td><td>${esc(m.arch)}</td><td>${esc(m.dataset ?? '?')}</td><td>${pct(m.accuracy)}</td><td>${m.featureDim}</td>` +
      `<td>${m.sensitivity === 'folder' ? 'sensitivity folder' : 'computed'}</td><td>${attacks}</td><td><a href="#/inputs/${enc(m.id)}">inputs</a></td></tr>`;
  }
  html += '</table><div id="acc-chart" style="max-width:520px"></div>';
  for (const r of catalog.reproduce) {
    html += `<h2>Reproduction ${esc(r.id)}</h2>`;
    if (r.table1) {
      html +=
        '<h3>Table 1</h3><table>' +
        r.table1.map((row, i) => `<tr>${row.map((c) => (i ? `<td>${esc(c)}</td>` : `<th>${esc(c)}</th>`)).join('')}</tr>`).join('') +
        '</table>';
    }
    html +=
      '<h3>Figures (hover for values, drag or scroll to zoom, double-click to reset)</h3><div class="row">' +
      r.charts
        .map((c, i) =>
          c.spec
            ? `<div class="panel chart" id="rc-${esc(r.id)}-${i}"></div>`
            : `<div class="panel">${esc(c.name)}: <span class="error">${esc(c.error)}</span></div>`,
        )
        .join('') +
      '</div>';
    const drawn = new Set(r.charts.filter((c) => c.spec).map((c) => c.name));
    const rest = r.figures.filter((f) => !drawn.has(f.name));
    if (rest.length)
      html +=
        '<div class="row">' +
        rest.map((f) => `<div class="figure"><img src="${esc(f.svg)}" width="480" alt="${esc(f.name)}"><br>${esc(f.name)}</div>`).join('') +
        '</div>';
  }
  main.innerHTML = html;
  const acc = catalog.models.filter((m) => m.accuracy !== null).map((m) => ({ model: m.id, accuracy: m.accuracy }));
  if (acc.length)
    chart(document.getElementById('acc-chart'), {
      title: 'Test accuracy',
      data: { values: acc },
      mark: 'bar',
      height: 120,
      encoding: {
        y: { field: 'model', type: 'nominal' },
        x: { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '%' } },
        tooltip: [{ field: 'model' }, { field: 'accuracy', format: '.1%' }],
      },
    });
  for (const r of catalog.reproduce)
    r.charts.forEach(
      (c, i) => c.spec && vegaEmbed(document.getElementById(`rc-${r.id}-${i}`), interactive(c.spec), { actions: false, tooltip: true }),
    ); // eslint-disable-line no-undef
}

// ---------------------------------------------------------------- inputs grid
async function inputs(id) {
  const m = model(id ?? catalog.models[0].id);
  const q = params();
  const page = Number(q.get('page') ?? 0);
  const size = 48;
  const filters = { class: q.get('class') ?? '', correct: q.get('correct') ?? 'any', fooled: q.get('fooled') ?? 'any' };
  const api_q = new URLSearchParams({ offset: String(page * size), limit: String(size), correct: filters.correct, fooled: filters.fooled });
  if (filters.class !== '') api_q.set('class', filters.class);
  const data = await api(`/api/models/${enc(m.id)}/inputs?${api_q}`);
  const has = (k) => m.attacks.some((a) => a.family === k);
  const opt = (v, label, cur) => `<option value="${esc(v)}"${String(cur) === String(v) ? ' selected' : ''}>${esc(label)}</option>`;
  const pages = Math.max(1, Math.ceil(data.total / size));
  const classOpts = opt('', 'any', filters.class) + m.classNames.map((c, i) => opt(i, c, filters.class)).join('');
  const correctOpts =
    opt('any', 'any', filters.correct) + opt('correct', 'correct', filters.correct) + opt('wrong', 'wrong', filters.correct);
  const fooledOpts =
    opt('any', 'any', filters.fooled) +
    (has('pgd') ? opt('pgd', 'PGD', filters.fooled) : '') +
    (has('kns') ? opt('kns', 'k-NS', filters.fooled) : '') +
    (has('autoattack') ? opt('autoattack', 'AutoAttack', filters.fooled) : '') +
    opt('neither', 'neither', filters.fooled);
  const caption = (it) => esc(m.classNames[it.label]) + (it.correct ? '' : ` → ${esc(m.classNames[it.prediction])}`);
  main.innerHTML = `<h1>Inputs of ${esc(m.id)}</h1>
  <div class="controls panel">
    <label>model <select id="f-model">${catalog.models.map((x) => opt(x.id, x.id, m.id)).join('')}</select></label>
    <label>class <select id="f-class">${classOpts}</select></label>
    <label>prediction <select id="f-correct">${correctOpts}</select></label>
    <label>fooled by <select id="f-fooled">${fooledOpts}</select></label>
    <span>${data.total} inputs · page ${page + 1} of ${pages}</span>
    <button id="prev" ${page === 0 ? 'disabled' : ''}>◀</button> <button id="next" ${page + 1 >= pages ? 'disabled' : ''}>▶</button>
  </div>
  <div class="grid">${data.items
    .map(
      (it) => `<a class="cell${it.correct ? '' : ' wrong'}" href="#/input/${enc(m.id)}/${it.index}">
    <img class="px" loading="lazy" src="${imgUrl(m.id, it.index)}" alt="input ${it.index}"><br>#${it.index}<br>${caption(it)}
    ${it.fooledPgd ? '<br>PGD ✗' : ''}${it.fooledKns ? '<br>k-NS ✗' : ''}${it.fooledAutoAttack ? '<br>AutoAttack ✗' : ''}</a>`,
    )
    .join('')}</div>`;
  const go = (p) => {
    const s = new URLSearchParams({
      page: String(p),
      class: document.getElementById('f-class').value,
      correct: document.getElementById('f-correct').value,
      fooled: document.getElementById('f-fooled').value,
    });
    location.hash = `#/inputs/${enc(document.getElementById('f-model').value)}?${s}`;
  };
  for (const f of ['f-class', 'f-correct', 'f-fooled', 'f-model']) document.getElementById(f).onchange = () => go(0);
  document.getElementById('prev').onclick = () => go(page - 1);
  document.getElementById('next').onclick = () => go(page + 1);
}

// ---------------------------------------------------------------- one input
async function input(id, index) {
  const m = model(id);
  const d = await api(`/api/models/${enc(id)}/inputs/${index}`);
  const cls = m.classNames;
  const first = d.neurons.find((n) => n.delta !== null) ?? d.neurons[0];
  const predicted = `<b class="${d.correct ? 'ok' : 'error'}">${esc(cls[d.prediction])}</b>`;
  const folders =
    (d.fooledPgd !== null ? `<br>PGD folder: ${d.fooledPgd ? 'fooled' : 'not fooled'}` : '') +
    (d.fooledKns !== null ? `<br>k-NS folder: ${d.fooledKns ? 'fooled' : 'not fooled'}` : '') +
    d.autoAttack.map(autoAttackLine).join('');
  const neuronOpts = d.neurons
    .map((n) => `<option value="${n.neuron}"${n === first ? ' selected' : ''}>#${n.rank}: neuron ${n.neuron}</option>`)
    .join('');
  const neuronRows = d.neurons
    .map(
      (n) =>
        `<tr><td>${n.rank}</td><td>${neuronLink(id, n)}</td>` +
        `<td>${fmt(n.delta)}</td><td>${fmt(n.scaled)}</td><td>${fmt(n.activation)}</td></tr>`,
    )
    .join('');
  main.innerHTML = `<h1>Input #${d.index} of ${esc(id)}</h1>
  <div class="row">
    <div class="panel"><img class="px big" src="${imgUrl(id, d.index)}" alt="input"><br>label <b>${esc(cls[d.label])}</b>, predicted ${predicted}
      ${folders}</div>
    <div class="panel" id="probs" style="width:360px"></div>
  <div class="panel controls stack" id="attack-form"><b>Live attack</b>
    <label>attack <select id="a-attack"><option value="kns">neuron attack (k-NS, one neuron)</option><option value="pgd">PGD</option></select></label>
    <label>neuron <select id="a-neuron">${neuronOpts}</select></label>
    <label>norm <select id="a-norm"><option value="l2">L2</option><option value="linf">Linf</option></select></label>
    <label>eps <input id="a-eps" type="text" value="1.5"></label>
    <label>iterations <input id="a-iter" type="number" min="1" max="1000" value="50"></label>
    <button id="a-run">Run attack</button> <button id="a-cancel" disabled>Cancel</button>
    <div id="a-status"></div>
  </div></div>
  <div id="a-result"></div>
  <h2>Neurons ranked by scaled Delta</h2>
  <div class="row"><div class="panel scroll"><table><tr><th>rank</th><th>neuron</th><th>Delta</th><th>scaled Delta</th><th>activation</th></tr>
    ${neuronRows}</table></div>
    <div class="panel side" id="rank-chart"></div></div>`;
  chart(document.getElementById('probs'), {
    title: 'Class probabilities',
    width: 250,
    height: 200,
    data: { values: d.probabilities.map((p, i) => ({ class: cls[i], p, label: i === d.label })) },
    mark: 'bar',
    encoding: {
      y: { field: 'class', type: 'nominal', sort: null, title: null },
      x: { field: 'p', type: 'quantitative', scale: { domain: [0, 1] }, title: 'probability (orange: the label)' },
      color: { field: 'label', type: 'nominal', legend: null },
      tooltip: [{ field: 'class' }, { field: 'p', format: '.3f' }],
    },
  });
  const ranked = d.neurons
    .filter((n) => n.scaled !== null)
    .slice(0, 20)
    .map((n) => ({ neuron: String(n.neuron), rank: n.rank, scaled: n.scaled, delta: n.delta }));
  chart(document.getElementById('rank-chart'), {
    title: 'Most sensitive neurons (scaled Delta, lower = easier)',
    height: 300,
    data: { values: ranked },
    mark: 'bar',
    encoding: {
      y: { field: 'neuron', type: 'nominal', sort: { field: 'rank' } },
      x: { field: 'scaled', type: 'quantitative' },
      tooltip: [{ field: 'neuron' }, { field: 'rank' }, { field: 'scaled', format: '.3f' }, { field: 'delta', format: '.3f' }],
    },
  });
  document.getElementById('a-attack').onchange = (e) => {
    document.getElementById('a-neuron').disabled = e.target.value !== 'kns';
  };
  document.getElementById('a-run').onclick = () => runAttack(m, d);
}

/** Which attack of an AutoAttack folder's cascade fooled the input (its samples.csv's fooled_by). */
const STAGES = { 'apgd-ce': 'APGD-CE', 'apgd-dlr': 'APGD-DLR', 'apgd-t': 'APGD-T', fab: 'FAB', 'fab-t': 'FAB-T', square: 'Square' };
function autoAttackLine(a) {
  const what =
    a.outcome === 'fooled'
      ? `fooled by <b class="error aa-stage">${esc(STAGES[a.fooledBy] ?? a.fooledBy)}</b>`
      : a.outcome === 'robust'
        ? '<b class="ok aa-stage">robust</b> (no attack fooled it)'
        : '<span class="aa-stage">misclassified clean</span> (not attacked)';
  const name = a.attack === 'autoattack' ? `AutoAttack ${esc(a.version)}` : esc(STAGES[a.attack] ?? a.attack);
  return `<br><span class="aa-outcome">${name} ${a.norm === 'l2' ? 'L2' : 'Linf'} eps ${fmt(a.eps, 4)}: ${what}</span>`;
}

let currentJob = null;

async function runAttack(m, d) {
  const status = document.getElementById('a-status');
  const result = document.getElementById('a-result');
  const runBtn = document.getElementById('a-run');
  const cancelBtn = document.getElementById('a-cancel');
  const attack = document.getElementById('a-attack').value;
  const body = {
    model: m.id,
    input: d.index,
    attack,
    norm: document.getElementById('a-norm').value,
    eps: document.getElementById('a-eps').value,
    iterations: Number(document.getElementById('a-iter').value),
  };
  if (attack === 'kns') body.neuron = Number(document.getElementById('a-neuron').value);
  result.innerHTML = '';
  let job;
  try {
    job = await api('/api/attacks', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  } catch (e) {
    status.innerHTML = `<span class="error">${esc(e.message)}</span>`;
    return;
  }
  currentJob = job.id;
  runBtn.disabled = true;
  cancelBtn.disabled = false;
  cancelBtn.onclick = () => api(`/api/attacks/${job.id}`, { method: 'DELETE' }).catch(() => {});
  while (job.state === 'queued' || job.state === 'running') {
    status.innerHTML =
      `<progress id="a-progress" max="1" ${job.phase === 'attacking' ? `value="${job.progress}"` : ''}></progress> ${esc(job.phase)}` +
      `${job.phase === 'attacking' ? ` ${Math.round(100 * job.progress)}%` : ''} · ${job.seconds.toFixed(1)} s`;
    await new Promise((r) => setTimeout(r, 250));
    if (currentJob !== job.id || !document.body.contains(status)) return; // the page changed
    job = await api(`/api/attacks/${job.id}`);
  }
  runBtn.disabled = false;
  cancelBtn.disabled = true;
  if (job.state !== 'done') {
    status.innerHTML = job.state === 'cancelled' ? 'cancelled' : `<span class="error">failed: ${esc(job.error ?? '')}</span>`;
    return;
  }
  status.textContent = `done in ${job.seconds.toFixed(1)} s`;
  const o = job.outcome;
  const r = o.record;
  const cls = m.classNames;
  const neuronLine = o.activation
    ? `<br>neuron ${r.neuron} (rank ${r.rank}): activation ${fmt(o.activation.clean)} → ${fmt(o.activation.adversarial)}, target ${fmt(o.activation.target)}:
       <b class="${r.deltaAchieved ? 'ok' : 'error'}" id="reached">${r.deltaAchieved ? 'reached its target' : 'did not reach its target'}</b>`
    : '';
  const advPred = `<b id="adv-pred" class="${r.success ? 'error' : 'ok'}">${esc(cls[r.adversarialPrediction])}</b>`;
  result.innerHTML = `<div class="row panel" id="attack-result">
    <div class="figure"><img class="px big" src="/api/attacks/${job.id}/clean.png" alt="clean"><br>clean: ${esc(cls[r.cleanPrediction])}</div>
    <div class="figure"><img class="px big" id="adv-img" src="/api/attacks/${job.id}/adversarial.png" alt="adversarial"><br>adversarial: ${advPred}</div>
    <div class="figure"><img class="px big" src="/api/attacks/${job.id}/perturbation.png" alt="perturbation"><br>perturbation, amplified (red +, blue −)</div>
    <div><b>${r.success ? 'Fooled' : 'Not fooled'}</b>: ${esc(cls[r.cleanPrediction])} → ${esc(cls[r.adversarialPrediction])}
      (p = ${fmt(o.probabilities[r.adversarialPrediction])})<br>L2 ${fmt(r.l2)}, Linf ${fmt(r.linf)}, best iterate ${r.iteration}${neuronLine}
      <div id="adv-probs" style="width:320px"></div></div></div>`;
  chart(document.getElementById('adv-probs'), {
    title: 'Probabilities after the attack',
    height: 180,
    data: { values: o.probabilities.map((p, i) => ({ class: cls[i], p })) },
    mark: 'bar',
    encoding: {
      y: { field: 'class', type: 'nominal', sort: null },
      x: { field: 'p', type: 'quantitative', scale: { domain: [0, 1] } },
      tooltip: [{ field: 'class' }, { field: 'p', format: '.3f' }],
    },
  });
}

// ---------------------------------------------------------------- one neuron
async function neuron(id, f) {
  const m = model(id);
  const n = await api(`/api/models/${enc(id)}/neurons/${f}`);
  const cls = m.classNames;
  const summary = n.summary
    ? `<br>mean ${fmt(n.summary.featureMean)}, std ${fmt(n.summary.featureStd)}, ` +
      `zero on ${pct(n.summary.zeroRate)} of inputs, mean scaled Delta ${fmt(n.summary.meanScaled)}`
    : '';
  const topCell = (t) =>
    `<a class="cell${t.label === t.prediction ? '' : ' wrong'}" href="#/input/${enc(id)}/${t.index}">` +
    `<img class="px" src="${imgUrl(id, t.index)}" alt="input ${t.index}"><br>#${t.index} ${esc(cls[t.label])}<br>z = ${fmt(t.activation)}</a>`;
  main.innerHTML = `<h1>Neuron ${n.neuron} of ${esc(id)}</h1>
  <div class="panel">Among an input's ${n.topK} most sensitive neurons for <b>${n.topKCount}</b> inputs.
    Pruning it (zeroing its classifier column) takes accuracy on these inputs from <b>${pct(n.accuracy)}</b> to <b id="pruned">${pct(n.prunedAccuracy)}</b>.
    No change of this neuron alone flips the prediction of ${n.infiniteDeltas} inputs (Delta = +inf).
    ${summary}</div>
  <div class="row"><div class="panel side" id="delta-hist"></div><div class="panel side" id="act-hist"></div><div class="panel side" id="weights"></div></div>
  <h2>Inputs that activate it most</h2>
  <div class="grid">${n.topInputs.map(topCell).join('')}</div>`;
  chart(document.getElementById('delta-hist'), histSpec(n.deltaHistogram, 'Delta over inputs (drag/scroll to zoom)', 'Delta'));
  chart(document.getElementById('act-hist'), histSpec(n.activationHistogram, 'Activation over inputs', 'activation'));
  chart(document.getElementById('weights'), {
    title: 'Classifier weights per class',
    height: 200,
    data: { values: n.weights.map((w, i) => ({ class: cls[i], w })) },
    mark: 'bar',
    encoding: {
      x: { field: 'class', type: 'nominal', sort: null },
      y: { field: 'w', type: 'quantitative', title: 'weight' },
      tooltip: [{ field: 'class' }, { field: 'w', format: '.4f' }],
    },
  });
}

// ---------------------------------------------------------------- compare
async function compare() {
  const q = params();
  const ids = catalog.models.map((m) => m.id);
  const a = q.get('a') ?? ids[0];
  const b = q.get('b') ?? ids[1] ?? ids[0];
  const index = Number(q.get('input') ?? 0);
  const opts = (cur) => ids.map((i) => `<option${i === cur ? ' selected' : ''}>${esc(i)}</option>`).join('');
  main.innerHTML =
    `<h1>Compare</h1><div class="panel controls"><label>model A <select id="c-a">${opts(a)}</select></label>` +
    `<label>model B <select id="c-b">${opts(b)}</select></label>
    <label>input <input id="c-input" type="number" min="0" value="${index}"></label><button id="c-go">Show</button></div><div class="row" id="sides"></div>`;
  document.getElementById('c-go').onclick = () => {
    const value = (el) => document.getElementById(el).value;
    location.hash = `#/compare?${new URLSearchParams({ a: value('c-a'), b: value('c-b'), input: value('c-input') })}`;
  };
  const sides = document.getElementById('sides');
  for (const id of [a, b]) {
    const div = document.createElement('div');
    div.className = 'panel side';
    sides.appendChild(div);
    try {
      const m = model(id);
      const d = await api(`/api/models/${enc(id)}/inputs/${index}`);
      const img = `<img class="px" width="112" height="112" src="${imgUrl(id, index)}" alt="input">`;
      div.innerHTML = `<h2>${esc(id)} (${pct(m.accuracy)})</h2>${img} predicted <b>${esc(m.classNames[d.prediction])}</b> (label ${esc(m.classNames[d.label])})
        <div class="dist"></div><table><tr><th>rank</th><th>neuron</th><th>scaled Delta</th><th>activation</th></tr>
        ${d.neurons
          .slice(0, 10)
          .map((n) => `<tr><td>${n.rank}</td><td>${neuronLink(id, n)}</td><td>${fmt(n.scaled)}</td><td>${fmt(n.activation)}</td></tr>`)
          .join('')}</table>`;
      const dist = await api(`/api/models/${enc(id)}/distribution`);
      chart(
        div.querySelector('.dist'),
        histSpec(
          dist.histogram,
          `Scaled Delta, all neurons and inputs (${dist.infinite} of ${dist.sampled} infinite)`,
          'scaled Delta',
          '(neuron, input) pairs',
        ),
      );
    } catch (e) {
      div.innerHTML = `<span class="error">${esc(e.message)}</span>`;
    }
  }
}

// ---------------------------------------------------------------- router
async function route() {
  const path = location.hash.replace(/^#/, '').split('?')[0].split('/').filter(Boolean).map(decodeURIComponent);
  try {
    catalog ??= await api('/api/catalog');
    if (catalog.models.length) document.getElementById('nav-inputs').href = `#/inputs/${enc(catalog.models[0].id)}`;
    if (path[0] === 'inputs') await inputs(path[1]);
    else if (path[0] === 'input') await input(path[1], path[2]);
    else if (path[0] === 'neuron') await neuron(path[1], path[2]);
    else if (path[0] === 'compare') await compare();
    else await overview();
  } catch (e) {
    main.innerHTML = `<p class="error">${esc(e.message)}</p>`;
  }
}

window.addEventListener('hashchange', route);
route();
