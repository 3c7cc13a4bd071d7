// The chat page's behaviour: served as a file, so the page's CSP allows no inline script.
const keyInput = document.getElementById('key');
keyInput.value = sessionStorage.getItem('steward-key') || '';
document.getElementById('keyform').addEventListener('submit', (e) => {
  e.preventDefault(); sessionStorage.setItem('steward-key', keyInput.value.trim());
});
function el(tag, cls, text) { const n = document.createElement(tag); if (cls) n.className = cls; if (text !== undefined) n.textContent = text; return n; }
document.getElementById('askform').addEventListener('submit', async (e) => {
  e.preventDefault();
  const q = document.getElementById('question').value.trim();
  if (!q) return;
  const turn = el('div', 'turn'); turn.appendChild(el('div', 'q', q));
  document.getElementById('log').prepend(turn);
  try {
    const res = await fetch('/v1/ask', { method: 'POST', headers: { 'Content-Type': 'application/json', 'Authorization': 'Bearer ' + (sessionStorage.getItem('steward-key') || keyInput.value.trim()) }, body: JSON.stringify({ question: q }) });
    const body = await res.json();
    if (!res.ok) { turn.appendChild(el('div', 'error', body.error ? body.error.message : 'Request failed')); return; }
    const a = el('div', 'a'); a.appendChild(el('span', 'badge ' + body.action, body.action));
    a.appendChild(document.createTextNode(body.answer)); turn.appendChild(a);
    if (body.citations.length) { const ol = el('ol', 'cites'); body.citations.forEach(c => ol.appendChild(el('li', '', c.title + ' (' + c.doc_id + ')'))); turn.appendChild(ol); }
    turn.appendChild(el('div', 'meta', 'confidence ' + body.confidence.toFixed(2) + ' · audit ' + body.audit_id));
  } catch (err) { turn.appendChild(el('div', 'error', 'Network error: ' + err)); }
});
