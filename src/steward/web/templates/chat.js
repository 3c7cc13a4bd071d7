// The chat page's behaviour. Served as a file: the page's CSP allows no inline script.
// Text from the server is only ever set as textContent, never parsed as HTML.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const STORE = 'steward.chat'; // sessionStorage: {user, conversation}; the tab's own
  const POLL_MS = 3000; // how often an open hand-off is checked for the person's reply
  const MESSAGES = {
    offline: "Can't reach the assistant right now. Check your connection and try again.",
    server: 'Something went wrong on our side. Please try again in a moment.',
    ended: 'Your session has ended. Please sign in again.',
    badKey: "That key wasn't accepted. Check it and try again.",
    cut: 'The answer was interrupted. Please try again.',
  };
  const SAYS = {
    escalate: "I've passed your conversation to a person who can help. They will see what you " +
      "wrote, so you don't need to repeat it. Their reply will appear here.",
    withPerson: "A person has your conversation. I've passed this message to them, and their " +
      'reply will appear here.',
    abstain: "I couldn't find an answer I can stand behind in the information available to you, " +
      "so I won't guess. Try asking it another way, or ask to speak to a person.",
    refuse: "I can't help with that request. Ask me about products, fees, claims or procedures.",
  };
  const TICKET = {
    open: ['Waiting for an advisor', 'Your conversation is in the queue; an advisor will reply here.'],
    claimed: ['An advisor is replying', 'An advisor has your conversation and is writing to you.'],
    answered: ['Answered', 'An advisor has replied below. Write again if you need more help.'],
    resolved: ['Closed', 'This request is closed. Ask a new question at any time.'],
  };
  const KINDS = {
    CARD: 'card number', EMAIL: 'email address', PHONE: 'phone number', NAME: 'name',
    ADDRESS: 'address', SSN: 'social security number', US_SSN: 'social security number',
    IBAN: 'bank account number', ACCOUNT: 'account number', DOB: 'date of birth',
    SWIFT: 'bank code', SORT_CODE: 'sort code', ROUTING: 'routing number', IP: 'IP address',
    CVV: 'card security code', EXPIRY: 'card expiry date', PASSPORT: 'passport number',
    MEMBER_ID: 'member number', OTP: 'one-time code', PIN: 'PIN',
    DRIVER_LICENSE: 'driving licence number', NATIONAL_ID: 'identity number',
  };

  const state = {
    user: null, csrf: null, conversation: null, rendered: 0, busy: false, poll: null, gen: 0,
  };

  // ---- small helpers -------------------------------------------------------------------
  function el(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }
  function load() {
    try { return JSON.parse(sessionStorage.getItem(STORE) || '{}'); } catch (e) { return {}; }
  }
  function save() {
    sessionStorage.setItem(STORE, JSON.stringify({ user: state.user, conversation: state.conversation }));
  }
  /** Masked values (<CARD_3>, <EMAIL>) as words a person reads: "[card number hidden]". */
  function renderText(node, text) {
    node.textContent = '';
    const re = /<([A-Z][A-Z_]*?)(?:_\d+)?>/g;
    let last = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      node.appendChild(document.createTextNode(text.slice(last, m.index)));
      const kind = KINDS[m[1]] || m[1].toLowerCase().replace(/_/g, ' ');
      const span = el('span', 'masked', '[' + kind + ' hidden]');
      span.title = 'Hidden to protect personal information';
      node.appendChild(span);
      last = m.index + m[0].length;
    }
    node.appendChild(document.createTextNode(text.slice(last)));
  }
  function confidenceWords(confidence, sources) {
    const n = sources === 1 ? '1 source' : sources + ' sources';
    if (confidence >= 0.75) return ['Well supported by ' + n + '.', false];
    if (confidence >= 0.5) return ['Supported by ' + n + '.', false];
    return ['Partly supported by ' + n + '. Please check the source before relying on it.', true];
  }
  class Problem extends Error {
    constructor(kind, message) { super(message); this.kind = kind; }
  }
  async function problemOf(res) {
    let body = {};
    try { body = await res.json(); } catch (e) { /* not JSON: a proxy's page */ }
    const err = body.error || {};
    if (res.status === 401 || err.code === 'csrf_failed') return new Problem('signin', MESSAGES.ended);
    if (res.status === 429) {
      const wait = parseInt(res.headers.get('Retry-After') || '30', 10);
      return new Problem('wait', "You're sending messages faster than we can answer. Please wait " +
        wait + ' seconds, then try again.');
    }
    if (res.status >= 500) return new Problem('server', MESSAGES.server);
    if (res.status === 404) return new Problem('gone', err.message || MESSAGES.server);
    return new Problem('input', err.message || MESSAGES.server);
  }
  async function call(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && state.csrf) headers['X-CSRF-Token'] = state.csrf;
    try {
      return await fetch(path, {
        method, headers, credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new Problem('offline', MESSAGES.offline); // never "TypeError: Failed to fetch"
    }
  }

  // ---- sign-in -------------------------------------------------------------------------
  function showSignIn(note) {
    stopPolling();
    state.csrf = null;
    $('chat').hidden = true;
    $('who').hidden = true;
    $('sign-in').hidden = false;
    $('sign-in-note').textContent = note || '';
    $('key').focus();
  }
  function clearConversation() {
    stopPolling();
    state.conversation = null;
    state.rendered = 0;
    state.gen += 1;
    $('log').textContent = '';
    $('ticket').hidden = true;
    $('empty').hidden = false;
    if (state.user) save();
  }
  async function signedIn(session) {
    const saved = load();
    state.user = session.user_id;
    state.csrf = session.csrf_token;
    if (saved.user !== session.user_id) {
      // Another person on this browser: nothing of the previous user's stays on screen, not
      // even a question they typed and never sent.
      clearConversation();
      sessionStorage.removeItem(STORE);
      $('question').value = '';
    } else {
      state.conversation = saved.conversation || null;
    }
    save();
    $('who-name').textContent = session.display_name;
    $('who').hidden = false;
    $('sign-in').hidden = true;
    $('chat').hidden = false;
    if (state.conversation && state.rendered === 0) await reload();
    $('question').focus();
  }
  async function signIn(e) {
    e.preventDefault();
    const key = $('key').value.trim();
    $('sign-in-error').textContent = '';
    if (!key) { $('sign-in-error').textContent = 'Enter your access key.'; return; }
    $('sign-in-button').disabled = true;
    try {
      const res = await call('POST', '/v1/session', { api_key: key });
      if (!res.ok) {
        const p = await problemOf(res);
        $('sign-in-error').textContent = p.kind === 'signin' || res.status === 422 ? MESSAGES.badKey : p.message;
        return;
      }
      $('key').value = '';
      await signedIn(await res.json());
    } catch (err) {
      $('sign-in-error').textContent = err instanceof Problem ? err.message : MESSAGES.server;
    } finally {
      $('sign-in-button').disabled = false;
    }
  }
  async function signOut() {
    // Signed out only when the server says so (204; 401: already signed out). Otherwise the
    // session still works, so the page must not claim otherwise: say so and stay signed in.
    $('sign-out-error').textContent = '';
    let res = null;
    try { res = await call('DELETE', '/v1/session'); } catch (e) { res = null; }
    if (!res || (res.status !== 204 && res.status !== 401)) {
      let why = MESSAGES.offline;
      if (res && res.status === 429) {
        const wait = parseInt(res.headers.get('Retry-After') || '30', 10);
        why = 'Too many requests. Please wait ' + wait + ' seconds, then try again.';
      } else if (res) {
        why = MESSAGES.server;
      }
      $('sign-out-error').textContent = "You're still signed in: we couldn't sign you out. " + why;
      return;
    }
    clearConversation();
    sessionStorage.removeItem(STORE);
    state.user = null;
    $('question').value = '';
    showSignIn('You have signed out.');
  }

  // ---- messages ------------------------------------------------------------------------
  function addMessage(role, label) {
    $('empty').hidden = true;
    const li = el('div', 'msg ' + role);
    li.appendChild(el('span', 'who-said', label));
    li.appendChild(el('div', 'text'));
    $('log').appendChild(li);
    return li;
  }
  function asker(text) {
    const li = addMessage('asker', 'You');
    renderText(li.querySelector('.text'), text);
    return li;
  }
  function human(text) {
    const li = addMessage('human', 'Advisor');
    renderText(li.querySelector('.text'), text);
    return li;
  }
  /** What an assistant turn says to a person: an answer as written, anything else in words. */
  function spoken(r, streamed) {
    if (r.action === 'answer') return r.answer;
    let text = SAYS[r.action] || SAYS.abstain;
    if (r.action === 'escalate') {
      if (r.answer.startsWith('A person has your conversation')) text = SAYS.withPerson;
      const hours = r.answer.match(/Our team is available[^]*$/);
      if (hours) text += ' ' + hours[0];
    }
    return streamed ? streamed + '\n\n' + text : text;
  }
  function renderAssistant(li, r, streamed) {
    li.removeAttribute('aria-busy');
    li.querySelector('.text').classList.remove('cursor');
    renderText(li.querySelector('.text'), spoken(r, streamed));
    const cites = r.citations || [];
    if (r.action === 'answer' && cites.length) {
      const [words, low] = confidenceWords(r.confidence, new Set(cites.map((c) => c.title)).size);
      li.appendChild(el('p', 'confidence' + (low ? ' low' : ''), words));
      const box = el('div', 'sources');
      box.appendChild(el('h3', '', 'Sources'));
      const ol = el('ol');
      cites.forEach((c) => {
        const item = el('li');
        const b = el('button', 'link', c.section ? c.title + ' — ' + c.section : c.title);
        b.type = 'button';
        b.setAttribute('aria-haspopup', 'dialog');
        b.addEventListener('click', () => openPassage(c, b));
        item.value = c.n;
        item.appendChild(b);
        ol.appendChild(item);
      });
      box.appendChild(ol);
      li.appendChild(box);
    }
    if (r.audit_id && (r.action === 'answer' || r.action === 'abstain')) {
      li.appendChild(feedback(r.audit_id, r.feedback));
    }
  }

  // ---- feedback ------------------------------------------------------------------------
  function feedback(auditId, given) {
    const box = el('div', 'feedback');
    if (given) { box.appendChild(el('p', 'status', 'Thanks for your feedback.')); return box; }
    const fs = el('fieldset');
    fs.appendChild(el('legend', '', 'Was this helpful?'));
    let thumb = null;
    const up = el('button', 'secondary', 'Yes');
    const down = el('button', 'secondary', 'No');
    const comment = el('div', 'comment');
    const id = 'c-' + auditId;
    const label = el('label', '', 'Comment (optional)');
    label.htmlFor = id;
    const area = el('textarea');
    area.id = id;
    area.rows = 1;
    area.maxLength = 2000;
    const sendBtn = el('button', '', 'Send feedback');
    const note = el('p', 'status');
    note.setAttribute('role', 'status');
    [up, down].forEach((b, i) => {
      b.type = 'button';
      b.setAttribute('aria-pressed', 'false');
      b.addEventListener('click', () => {
        thumb = i === 0 ? 'up' : 'down';
        up.setAttribute('aria-pressed', String(thumb === 'up'));
        down.setAttribute('aria-pressed', String(thumb === 'down'));
        comment.hidden = false;
        area.focus();
      });
      fs.appendChild(b);
    });
    sendBtn.type = 'button';
    sendBtn.addEventListener('click', async () => {
      sendBtn.disabled = true;
      try {
        const res = await call('POST', '/v1/feedback', {
          audit_id: auditId, thumb, rating: null, comment: area.value.trim(),
        });
        if (!res.ok) throw await problemOf(res);
        box.textContent = '';
        box.appendChild(el('p', 'status', 'Thanks for your feedback.'));
      } catch (err) {
        if (err instanceof Problem && err.kind === 'signin') { showSignIn(err.message); return; }
        note.textContent = err instanceof Problem && (err.kind === 'wait' || err.kind === 'offline')
          ? err.message : "We couldn't save your feedback right now. Please try again.";
        sendBtn.disabled = false;
      }
    });
    comment.hidden = true;
    comment.appendChild(label);
    comment.appendChild(area);
    comment.appendChild(sendBtn);
    box.appendChild(fs);
    box.appendChild(comment);
    box.appendChild(note);
    return box;
  }

  // ---- the cited passage -----------------------------------------------------------------
  async function openPassage(cite, opener) {
    const dialog = $('passage');
    const meta = $('passage-meta');
    $('passage-title').textContent = cite.title;
    meta.textContent = '';
    $('passage-text').textContent = 'Loading…';
    const add = (k, v) => { if (v) { meta.appendChild(el('dt', '', k)); meta.appendChild(el('dd', '', v)); } };
    dialog.returnFocus = opener;
    if (!dialog.open) dialog.showModal();
    try {
      const res = await call('GET', '/v1/passages/' + encodeURIComponent(cite.chunk_id));
      if (res.status === 404) {
        $('passage-text').textContent = 'This source is no longer available to you.';
        return;
      }
      if (!res.ok) throw await problemOf(res);
      const p = await res.json();
      $('passage-title').textContent = p.title;
      add('Section', p.section);
      add('Date', p.updated);
      add('Version', p.version);
      renderText($('passage-text'), p.text);
    } catch (err) {
      if (err instanceof Problem && err.kind === 'signin') { dialog.close(); showSignIn(err.message); return; }
      $('passage-text').textContent = err instanceof Problem ? err.message : MESSAGES.server;
    }
  }

  // ---- asking --------------------------------------------------------------------------
  function setBusy(busy) {
    state.busy = busy;
    $('send').disabled = busy;
    $('ask-form').setAttribute('aria-busy', String(busy));
    $('ask-status').textContent = busy ? 'Getting your answer…' : '';
  }
  function failed(li, q, problem) {
    li.className = 'msg notice';
    li.removeAttribute('aria-busy');
    li.querySelector('.who-said').textContent = 'Not sent';
    li.querySelector('.text').classList.remove('cursor');
    li.querySelector('.text').textContent = problem.message;
    if (problem.kind === 'signin') { $('question').value = q; showSignIn(problem.message); return; }
    if (problem.kind === 'gone' && state.conversation) {
      // The conversation is no longer there (erased, or not this person's): start a new one.
      state.conversation = null;
      state.rendered = 0;
      save();
      li.querySelector('.text').textContent = 'This conversation is no longer available. ' +
        'Retry to ask in a new conversation.';
    }
    const retry = el('button', 'retry', 'Retry');
    retry.type = 'button';
    retry.addEventListener('click', () => {
      if (state.busy) return;
      li.previousElementSibling && li.previousElementSibling.remove(); // the question, re-added
      li.remove();
      send(q);
    });
    li.appendChild(retry);
    retry.focus();
  }
  async function send(q) {
    if (state.busy) return; // one request at a time: a double click sends one question
    setBusy(true);
    state.gen += 1;
    $('question').value = '';
    const mine = asker(q);
    const li = addMessage('assistant', 'Assistant');
    li.setAttribute('aria-busy', 'true');
    const text = li.querySelector('.text');
    text.classList.add('cursor');
    let streamed = '';
    let done = null;
    try {
      const body = { question: q };
      if (state.conversation) body.conversation_id = state.conversation;
      const res = await call('POST', '/v1/ask/stream', body);
      if (!res.ok) throw await problemOf(res);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        let chunk;
        try { chunk = await reader.read(); } catch (e) { throw new Problem('offline', MESSAGES.offline); }
        if (chunk.done) break;
        buf += decoder.decode(chunk.value, { stream: true });
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const ev = JSON.parse(line);
          if (ev.type === 'delta') { streamed += ev.text; text.textContent = streamed; }
          else if (ev.type === 'done') done = ev.response;
          else if (ev.type === 'error') throw new Problem('server', MESSAGES.server);
        }
      }
      if (!done) throw new Problem('offline', MESSAGES.cut);
      state.conversation = done.conversation_id || state.conversation;
      state.rendered += 2; // the question and this answer, as the server keeps them
      save();
      // The question as kept: masked values in words, as a reload would show them.
      if (done.question) renderText(mine.querySelector('.text'), done.question);
      renderAssistant(li, done, done.action === 'answer' ? '' : streamed);
      showTicket(done.ticket);
    } catch (err) {
      failed(li, q, err instanceof Problem ? err : new Problem('server', MESSAGES.server));
    } finally {
      setBusy(false);
    }
  }

  // ---- the hand-off, live ---------------------------------------------------------------
  function showTicket(ticket) {
    const box = $('ticket');
    if (!ticket) { box.hidden = true; stopPolling(); return; }
    const [title, detail] = TICKET[ticket.status] || TICKET.open;
    box.textContent = '';
    box.appendChild(el('strong', '', 'Request ' + ticket.reference + ': ' + title));
    box.appendChild(el('span', '', detail));
    box.dataset.status = ticket.status;
    box.hidden = false;
    // An answered ticket may get a further reply until it is resolved.
    if (ticket.status !== 'resolved') startPolling();
    else stopPolling();
  }
  function startPolling() {
    if (!state.poll) state.poll = setInterval(poll, POLL_MS);
  }
  function stopPolling() {
    if (state.poll) clearInterval(state.poll);
    state.poll = null;
  }
  function apply(conv) {
    conv.turns.slice(state.rendered).forEach((t) => {
      if (t.role === 'asker') asker(t.text);
      else if (t.role === 'human') human(t.text);
      else {
        const li = addMessage('assistant', 'Assistant');
        renderAssistant(li, {
          action: t.action, answer: t.text, citations: t.citations, confidence: t.confidence,
          audit_id: t.audit_id, feedback: t.feedback,
        }, '');
      }
    });
    state.rendered = Math.max(state.rendered, conv.turns.length);
    showTicket(conv.ticket);
  }
  async function fetchConversation() {
    const res = await call('GET', '/v1/conversations/' + encodeURIComponent(state.conversation));
    if (res.status === 404) return null; // gone (erased) or not this user's: start afresh
    if (!res.ok) throw await problemOf(res);
    return res.json();
  }
  async function poll() {
    if (state.busy || !state.conversation) return;
    const gen = state.gen;
    try {
      const conv = await fetchConversation();
      if (gen !== state.gen || state.busy) return; // a question was sent meanwhile
      if (conv) apply(conv);
      $('ask-status').textContent = '';
    } catch (err) {
      if (err instanceof Problem && err.kind === 'signin') showSignIn(err.message);
      // Offline: keep polling; the status line says so without interrupting.
      else $('ask-status').textContent = err.message;
    }
  }
  async function reload() {
    const gen = state.gen;
    try {
      const conv = await fetchConversation();
      if (gen !== state.gen) return;
      if (!conv) { clearConversation(); return; }
      apply(conv);
    } catch (err) {
      if (err instanceof Problem && err.kind === 'signin') { showSignIn(err.message); return; }
      $('ask-status').textContent = err instanceof Problem ? err.message : MESSAGES.server;
    }
  }

  // ---- wiring --------------------------------------------------------------------------
  async function boot() {
    $('sign-in-form').addEventListener('submit', signIn);
    $('sign-out').addEventListener('click', signOut);
    $('new-conversation').addEventListener('click', () => { clearConversation(); $('question').focus(); });
    $('ask-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const q = $('question').value.trim();
      if (q && !state.busy) send(q);
    });
    $('question').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        $('ask-form').requestSubmit();
      }
    });
    $('passage-close').addEventListener('click', () => $('passage').close());
    $('passage').addEventListener('close', () => {
      const back = $('passage').returnFocus;
      if (back && document.contains(back)) back.focus();
    });
    call('GET', '/v1/sign-in-options').then(async (res) => {
      const url = res.ok ? (await res.json()).identity_provider_url : null;
      if (url) { $('idp-link').href = url; $('idp').hidden = false; }
    }).catch(() => { /* the key form still works */ });
    try {
      const res = await call('GET', '/v1/session');
      if (res.ok) { await signedIn(await res.json()); return; }
      showSignIn('');
    } catch (err) {
      showSignIn(err instanceof Problem ? err.message : MESSAGES.server);
    }
  }
  boot();
})();
