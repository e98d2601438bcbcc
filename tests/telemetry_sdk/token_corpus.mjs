// The corpus on which the token estimate (src/api/token_estimate.cc) is measured against
// cl100k: samples of prose, markdown, C++ and JavaScript code, JSON, numbers, logs and
// non-English text. Code, markdown and JSON come from this repository's own files (cut into
// ~1,500-character pieces at line ends, a fixed number per kind, so each kind weighs the same);
// the rest is written here. Deterministic: the same tree gives the same samples.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function filesUnder(dir, ext) {
  const out = [];
  for (const name of readdirSync(path.join(root, dir)).sort()) {
    const rel = path.join(dir, name);
    if (name === 'node_modules') continue;
    const st = statSync(path.join(root, rel));
    if (st.isDirectory()) out.push(...filesUnder(rel, ext));
    else if (name.endsWith(ext)) out.push(rel);
  }
  return out;
}

// Pieces of about `size` characters, cut at line ends.
function pieces(text, size = 1500) {
  const out = [];
  let cur = '';
  for (const line of text.split('\n')) {
    cur += line + '\n';
    if (cur.length >= size) {
      out.push(cur);
      cur = '';
    }
  }
  if (cur.trim()) out.push(cur);
  return out;
}

// Up to `count` pieces spread evenly over the files' pieces.
function sample(files, count) {
  const all = files.flatMap((f) => pieces(readFileSync(path.join(root, f), 'utf8')));
  if (all.length <= count) return all;
  const step = all.length / count;
  return Array.from({ length: count }, (_, i) => all[Math.floor(i * step)]);
}

const prose = [
  'The quick brown fox jumps over the lazy dog.',
  'Explain the difference between a process and a thread in two sentences.',
  'Our quarterly review found that the support team resolved most tickets within a day, but customers who wrote in over the weekend waited much longer. We propose a small rotation so that someone answers on Saturdays and Sundays, and we will measure whether satisfaction improves over the next quarter.',
  'You are a helpful assistant. Answer the user\'s questions accurately and concisely. If you do not know the answer, say so instead of guessing. Use bullet points when listing more than three items.',
  'Once upon a time, in a village at the edge of a great forest, there lived an old clockmaker who had never once been late. Every morning he wound the tower clock, swept his shop, and opened the shutters at exactly seven.',
  'Summarize the following meeting notes: the launch moves to the second week of March; marketing needs final screenshots by Friday; legal still reviews the privacy policy; the beta feedback is mostly positive, with complaints about slow sign-in on older phones.',
  'Photosynthesis converts light energy into chemical energy. Chlorophyll absorbs mostly blue and red light, which is why leaves look green. The light-dependent reactions split water and release oxygen, while the Calvin cycle fixes carbon dioxide into sugars.',
  'Dear hiring manager, I am writing to apply for the position of senior data engineer. Over the past six years I have designed streaming pipelines, migrated warehouses to the cloud, and mentored junior engineers.',
  'What are the main causes of inflation, and how do central banks usually respond when prices rise faster than their target?',
  'Please rewrite this paragraph so that it is friendlier and shorter, keeping every fact: "Your request has been received and will be processed in due course. Do not reply to this message."',
];

const nonEnglish = [
  'Die Bundesregierung hat am Mittwoch einen Gesetzentwurf beschlossen, der die Digitalisierung der Verwaltung beschleunigen soll. Bürgerinnen und Bürger sollen künftig die meisten Anträge online stellen können.',
  'Le gouvernement a présenté mercredi un projet de loi visant à simplifier les démarches administratives. Les citoyens pourront bientôt effectuer la plupart de leurs demandes en ligne, sans se déplacer.',
  'El ayuntamiento anunció que ampliará la red de bicicletas públicas el próximo año. Según el alcalde, el número de usuarios se ha duplicado desde la pandemia y las estaciones están saturadas por las mañanas.',
  'A empresa anunciou resultados acima do esperado no terceiro trimestre, impulsionados pelas vendas no exterior e pela redução de custos operacionais.',
  'Правительство объявило о новой программе поддержки малого бизнеса. Предприниматели смогут получить льготные кредиты и налоговые каникулы на два года.',
  '人工智能正在改变许多行业的工作方式。企业希望利用大语言模型提高客服效率，同时也担心数据安全和成本问题。',
  '東京の桜は今年、例年より一週間早く開花しました。週末には多くの人が公園を訪れ、花見を楽しみました。',
  '서울시는 내년부터 대중교통 요금을 인상한다고 발표했습니다. 시민들은 물가 상승으로 인한 부담을 우려하고 있습니다.',
  'أعلنت الحكومة عن خطة جديدة لتطوير البنية التحتية في المدن الكبرى، تشمل بناء طرق ومستشفيات ومدارس جديدة خلال السنوات الخمس المقبلة.',
  'भारत में डिजिटल भुगतान तेजी से बढ़ रहे हैं। छोटे दुकानदार भी अब मोबाइल फोन से भुगतान स्वीकार करते हैं।',
  'Il modello linguistico ha risposto correttamente a quasi tutte le domande, ma ha commesso alcuni errori nei calcoli più lunghi.',
  'Het kabinet wil de komende jaren fors investeren in woningbouw, vooral in de grote steden waar de wachtlijsten het langst zijn.',
];

// Numbers: tables, amounts, ids and timestamps as they appear in prompts and tool results.
function numbers() {
  let seed = 12345;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const out = ['In 2024, revenue grew 12.5% to $1,234,567.'];
  for (let s = 0; s < 6; s++) {
    let csv = 'date,region,units,revenue_usd,margin\n';
    for (let r = 0; r < 25; r++) {
      const d = new Date(Date.UTC(2024, 0, 1 + r + s * 30)).toISOString().slice(0, 10);
      csv += `${d},r${Math.floor(rnd() * 9)},${Math.floor(rnd() * 10000)},${(rnd() * 1e6).toFixed(2)},${(rnd()).toFixed(4)}\n`;
    }
    out.push(csv);
  }
  let log = '';
  for (let r = 0; r < 20; r++)
    log += `2025-11-${String(1 + r).padStart(2, '0')}T12:${String(r * 3 % 60).padStart(2, '0')}:07.${Math.floor(rnd() * 1000)}Z INFO request_id=${Math.floor(rnd() * 1e12).toString(16)} status=200 latency_ms=${Math.floor(rnd() * 900)} tokens=${Math.floor(rnd() * 4000)}\n`;
  out.push(log);
  return out;
}

// JSON as chat APIs carry it: tool calls, tool results, structured outputs.
function jsonSamples() {
  const out = [];
  for (let i = 0; i < 6; i++) {
    out.push(JSON.stringify({
      id: `call_${i}abc${i * 7}`,
      type: 'function',
      function: { name: 'search_orders', arguments: JSON.stringify({ customer_id: 1000 + i, status: ['shipped', 'pending'], limit: 20 }) },
    }));
    out.push(JSON.stringify({
      orders: Array.from({ length: 5 }, (_, k) => ({
        id: `ord_${i}${k}`, total: 19.99 * (k + 1), currency: 'USD', items: [{ sku: `SKU-${k}${i}`, qty: k + 1 }],
        shipped_at: `2025-10-${10 + k}T08:30:00Z`,
      })),
    }, null, i % 2 ? 2 : 0));
  }
  return out;
}

export function corpus() {
  return {
    prose,
    markdown: sample(filesUnder('docs', '.md'), 30),
    'code (C++)': sample(filesUnder('src', '.cc'), 30),
    'code (JS)': sample(filesUnder('tests', '.mjs'), 20),
    json: [...jsonSamples(), ...sample(['tests/telemetry_sdk/package-lock.json'], 6)],
    numbers: numbers(),
    'non-English': nonEnglish,
  };
}
