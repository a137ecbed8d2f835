// airstream's search page: posts a search, reads its Server-Sent Events,
// keeps offers sorted by price and every airline's status up to date, and
// resumes the stream (Last-Event-ID) if the connection drops.
"use strict";

const $ = (id) => document.getElementById(id);
const FIELDS = ["from", "to", "date", "return_date", "adults", "children", "infants", "cabin", "currency"];
// Where an API field's error goes on the form.
const FIELD_OF = {
  passengers: "adults",
  "passengers.adults": "adults",
  "passengers.children": "children",
  "passengers.infants": "infants",
};
// Provider id to airline name, for the status chips.
const names = new Map();

// The search on screen; a new search replaces it whole.
let current = null;

function isoDateIn(days) {
  const d = new Date();
  d.setDate(d.getDate() + days);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

async function loadAirports() {
  try {
    const res = await fetch("/api/airports");
    if (!res.ok) return;
    const body = await res.json();
    const list = $("airports");
    list.replaceChildren(
      ...body.data.map((a) => {
        const o = document.createElement("option");
        o.value = a.code;
        // The browser matches what is typed against the label too, so a
        // city or an airport's name finds its code.
        o.label = [a.name, a.city].filter(Boolean).join(", ") || a.code;
        return o;
      }),
    );
  } catch (_) {
    // Suggestions are a convenience; typing a code still works.
  }
}

function clearErrors() {
  for (const f of FIELDS) {
    $(`${f}-error`).textContent = "";
    $(f).removeAttribute("aria-invalid");
  }
  $("form-error").textContent = "";
}

function showErrors(body) {
  const errors = body.errors || [];
  let first = null;
  for (const e of errors) {
    const mapped = FIELD_OF[e.field] || e.field;
    const field = FIELDS.includes(mapped) ? mapped : null;
    if (field) {
      const slot = $(`${field}-error`);
      slot.textContent = slot.textContent ? `${slot.textContent} ${e.message}` : e.message;
      $(field).setAttribute("aria-invalid", "true");
      first = first || $(field);
    } else {
      $("form-error").textContent += `${e.field}: ${e.message} `;
    }
  }
  if (!errors.length) $("form-error").textContent = body.message || "The search was refused.";
  if (first) first.focus();
}

function money(price) {
  const amount = Number(price.total);
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: price.currency }).format(amount);
  } catch (_) {
    return `${price.currency} ${price.total}`;
  }
}

function time(dt) {
  return dt.slice(11, 16);
}

function duration(minutes) {
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return h ? `${h}h ${String(m).padStart(2, "0")}m` : `${m}m`;
}

// Cheapest first, as the API orders them: the total in the currency asked
// for (offers without one after), else currency and total; then departure
// and id.
function byPrice(a, b) {
  const ca = a.price.converted;
  const cb = b.price.converted;
  if (ca || cb) {
    if (!ca || !cb) return ca ? -1 : 1;
    const d = Number(ca.total) - Number(cb.total);
    if (d) return d;
  }
  if (a.price.currency !== b.price.currency) return a.price.currency < b.price.currency ? -1 : 1;
  const d = Number(a.price.total) - Number(b.price.total);
  if (d) return d;
  if (a.depart_at !== b.depart_at) return a.depart_at < b.depart_at ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function cell(text, label, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  td.dataset.label = label;
  if (cls) td.className = cls;
  return td;
}

// A local time, with its date below.
function when(dt, label) {
  const td = cell(time(dt), label);
  const date = document.createElement("span");
  date.className = "sub";
  date.textContent = dt.slice(0, 10);
  td.append(date);
  return td;
}

// The same flights sold by several airlines (or in several fare brands)
// show once: the cheapest offer, with who else sells them.
function groups(offers) {
  const byKey = new Map();
  for (const o of offers) {
    const key = o.itinerary || o.id;
    if (!byKey.has(key)) byKey.set(key, { best: o, sellers: new Set(), offers: [] });
    const g = byKey.get(key);
    g.offers.push(o);
    g.sellers.add(o.airline.name);
    if (byPrice(o, g.best) < 0) g.best = o;
  }
  return [...byKey.values()];
}

const HOURS = { night: [0, 5], morning: [5, 12], afternoon: [12, 18], evening: [18, 24] };

// What the filters let through, in the chosen order.
function shown(search) {
  const stops = [...document.querySelectorAll("input[name=stops]:checked")].map((c) => c.value);
  const airline = $("f-airline").value;
  const period = HOURS[$("f-time").value];
  const max = Number($("f-max").value || "0");
  const keep = (o) => {
    const s = o.stops >= 2 ? "2" : String(o.stops);
    const hour = Number(o.depart_at.slice(11, 13));
    return stops.includes(s)
      && (!airline || o.provider === airline)
      && (!period || (hour >= period[0] && hour < period[1]))
      && (!max || Number(o.price.total) <= max);
  };
  const list = groups(search.offers.filter(keep));
  const order = {
    price: (a, b) => byPrice(a.best, b.best),
    duration: (a, b) => a.best.duration_minutes - b.best.duration_minutes || byPrice(a.best, b.best),
    depart: (a, b) => (a.best.depart_at < b.best.depart_at ? -1 : a.best.depart_at > b.best.depart_at ? 1 : byPrice(a.best, b.best)),
  }[$("sort").value];
  return list.sort(order);
}

function offerRow(search, g) {
  const o = g.best;
  const tr = document.createElement("tr");
  tr.className = "offer";
  tr.dataset.id = o.id;
  tr.dataset.total = o.price.total;
  tr.dataset.currency = o.price.currency;
  tr.dataset.itinerary = o.itinerary || o.id;
  tr.dataset.stops = String(o.stops);
  tr.dataset.provider = o.provider;
  tr.dataset.depart = o.depart_at;
  tr.dataset.duration = String(o.duration_minutes);
  tr.dataset.sellers = String(g.sellers.size);
  const airline = cell(o.airline.name, "Airline");
  const leg = document.createElement("span");
  leg.className = "sub";
  const others = g.sellers.size > 1 ? ` · also ${[...g.sellers].filter((n) => n !== o.airline.name).join(", ")}` : "";
  leg.textContent = `${o.from} → ${o.to}${others}`;
  airline.append(leg);
  const via = (o.segments || []).slice(1).map((s) => s.from);
  tr.append(
    airline,
    cell((o.segments || []).map((s) => s.flight_number).join(" + ") || o.flight_number, "Flight"),
    when(o.depart_at, "Departs"),
    when(o.arrive_at, "Arrives"),
    cell(duration(o.duration_minutes), "Duration"),
    cell(o.stops === 0 ? "Direct" : `${o.stops} stop${o.stops > 1 ? "s" : ""}${via.length ? ` (${via.join(", ")})` : ""}`, "Stops"),
    cell(String(o.seats_left), "Seats"),
  );
  const converted = o.price.converted;
  const price = cell(money(converted || o.price), "Price", "num price-cell");
  price.classList.add("price");
  if (converted) {
    tr.dataset.converted = converted.total;
    const original = document.createElement("span");
    original.className = "sub";
    original.textContent = money(o.price);
    price.append(original);
  }
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "details";
  const open = search.expanded.has(tr.dataset.itinerary);
  toggle.setAttribute("aria-expanded", String(open));
  toggle.textContent = open ? "Hide details" : "Details";
  toggle.addEventListener("click", () => {
    const key = tr.dataset.itinerary;
    if (search.expanded.has(key)) search.expanded.delete(key);
    else search.expanded.add(key);
    renderOffers(search);
    const again = [...document.querySelectorAll("#offer-rows tr.offer")].find((r) => r.dataset.itinerary === key);
    if (again) again.querySelector("button.details").focus();
  });
  price.append(toggle);
  tr.append(price);
  return open ? [tr, detailRow(o, g)] : [tr];
}

// Everything an offer says: its flights and connections, fare, bags,
// conditions and price parts.
function detailRow(o, g) {
  const tr = document.createElement("tr");
  tr.className = "detail";
  tr.dataset.id = o.id;
  const td = document.createElement("td");
  td.colSpan = 8;
  const line = (text, cls) => {
    const p = document.createElement("p");
    p.textContent = text;
    if (cls) p.className = cls;
    td.append(p);
  };
  (o.segments || []).forEach((s, i, all) => {
    const operated = s.operating_carrier !== s.marketing_carrier ? ` (operated by ${s.operating_carrier} as ${s.operating_flight_number})` : "";
    line(`${s.flight_number}${operated}: ${s.from} ${s.depart_at.replace("T", " ").slice(0, 16)} → ${s.to} ${s.arrive_at.replace("T", " ").slice(0, 16)}, ${duration(s.duration_minutes)}`, "segment");
    const next = all[i + 1];
    if (next) {
      const wait = (Date.parse(`${next.depart_at}Z`) - Date.parse(`${s.arrive_at}Z`)) / 60000;
      line(`Connection in ${s.to}: ${duration(wait)}`, "layover");
    }
  });
  const f = o.fare || {};
  const b = f.baggage || {};
  const known = (v, yes, no) => (v === true ? yes : v === false ? no : "not stated");
  line(`Fare: ${f.brand || "not stated"} · checked bags: ${b.checked_bags ?? "not stated"}${b.checked_kg ? ` × ${b.checked_kg} kg` : ""} · cabin bags: ${b.cabin_bags ?? "not stated"} · ${known(f.refundable, "refundable", "not refundable")} · ${known(f.changeable, "changeable", "not changeable")}`, "fare");
  const cur = o.price.currency;
  const parts = [];
  if (o.price.base != null) parts.push(`base ${money({ total: o.price.base, currency: cur })}`, `taxes ${money({ total: o.price.taxes, currency: cur })}`);
  for (const p of o.price.by_passenger || []) parts.push(`${p.count} × ${p.type} ${money({ total: p.each, currency: cur })}`);
  line(`Price: ${parts.join(" · ")}${parts.length ? " · " : ""}total ${money(o.price)}`, "price-parts");
  if (o.price.converted) {
    const c = o.price.converted;
    line(`In ${c.currency}: ${money(c)} (1 ${cur} = ${c.rate} ${c.currency}, rates of ${c.date})`, "converted");
  }
  if (o.expires_at) line(`Price holds until ${new Date(o.expires_at).toLocaleString()}`, "expires");
  if (g.sellers.size > 1) line(`Sold by ${[...g.sellers].join(", ")}`, "sellers");
  tr.append(td);
  return tr;
}

function renderOffers(search) {
  const list = shown(search);
  const rows = [];
  const legs = search.roundTrip ? ["outbound", "inbound"] : [null];
  for (const leg of legs) {
    const part = leg ? list.filter((g) => g.best.leg === leg) : list;
    if (leg) {
      const head = document.createElement("tr");
      head.className = "leg-head";
      const th = document.createElement("th");
      th.colSpan = 8;
      th.scope = "colgroup";
      th.textContent = leg === "outbound" ? "Outbound" : "Return";
      head.append(th);
      rows.push(head);
    }
    for (const g of part) rows.push(...offerRow(search, g));
  }
  $("offer-rows").replaceChildren(...rows);
  $("shown-count").textContent = `${list.length} of ${groups(search.offers).length} journeys shown`;
}

function fillAirlineFilter(search) {
  const select = $("f-airline");
  const keep = select.value;
  const options = [new Option("All airlines", "")];
  for (const id of search.providers) options.push(new Option(names.get(id) || id, id));
  select.replaceChildren(...options);
  select.value = search.providers.includes(keep) ? keep : "";
}

// How old a kept answer is, in words: "40 s", "12 min", "3 h".
function age(ms) {
  const s = Math.round((ms || 0) / 1000);
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
}

function renderAirlines(search) {
  const items = search.providers.map((id) => {
    const st = search.status.get(id);
    const li = document.createElement("li");
    li.dataset.provider = id;
    li.dataset.status = st.status;
    li.dataset.cached = st.cached ? "true" : "false";
    const name = document.createElement("span");
    name.textContent = names.get(id) || id;
    const state = document.createElement("span");
    state.className = "state";
    state.textContent =
      st.status === "waiting" ? "waiting…"
        : st.status === "ok" ? `ok · ${st.offers} · ${st.cached ? `kept ${age(st.age_ms)}` : `${st.elapsed_ms} ms`}`
          : st.status === "timeout" ? `timeout · ${st.elapsed_ms} ms`
            : `error · ${st.elapsed_ms} ms`;
    if (st.error) li.title = st.error;
    else if (st.cached) li.title = `The airline's answer to the same question ${age(st.age_ms)} ago, kept`;
    li.append(name, state);
    return li;
  });
  $("airlines").replaceChildren(...items);
  const answered = search.providers.filter((id) => search.status.get(id).status !== "waiting").length;
  const progress = $("progress");
  progress.setAttribute("aria-valuemax", String(search.providers.length));
  progress.setAttribute("aria-valuenow", String(answered));
  $("progress-bar").style.width = `${search.providers.length ? (100 * answered) / search.providers.length : 0}%`;
}

function summary(text) {
  $("summary").textContent = text;
}

function listen(search) {
  const url = search.lastId ? `${search.streamUrl}?last_event_id=${search.lastId}` : search.streamUrl;
  const source = new EventSource(url);
  search.source = source;
  // Each event once: a resumed stream starts after the last one seen.
  const fresh = (e) => {
    if (current !== search) return false;
    const id = Number(e.lastEventId);
    if (id && id <= search.lastId) return false;
    if (id) search.lastId = id;
    return true;
  };
  source.addEventListener("offers", (e) => {
    if (!fresh(e)) return;
    const data = JSON.parse(e.data);
    search.offers.push(...data.offers);
    search.offers.sort(byPrice);
    renderOffers(search);
    summary(`${search.offers.length} offers so far…`);
  });
  source.addEventListener("provider", (e) => {
    if (!fresh(e)) return;
    const data = JSON.parse(e.data);
    search.status.set(data.provider, data);
    renderAirlines(search);
  });
  source.addEventListener("complete", (e) => {
    if (!fresh(e)) return;
    const data = JSON.parse(e.data);
    search.done = true;
    source.close();
    // The provider events said which answers were kept; keep that.
    for (const [id, p] of Object.entries(data.providers)) search.status.set(id, { ...search.status.get(id), ...p });
    renderAirlines(search);
    $("results").dataset.state = "complete";
    $("results").dataset.status = data.status;
    summary(
      `${data.status === "completed" ? "Complete" : "Partial (some airlines did not answer in time)"}: ` +
        `${data.total_offers} offers from ${search.providers.length} airlines in ${data.elapsed_ms} ms.`,
    );
  });
  source.onopen = () => {
    if (current === search && search.reconnecting) {
      search.reconnecting = false;
      summary(`Reconnected; ${search.offers.length} offers so far…`);
    }
  };
  source.onerror = () => {
    if (current !== search || search.done) return;
    search.reconnecting = true;
    summary(`Connection lost; resuming after event ${search.lastId}…`);
    // The browser retries on its own with Last-Event-ID; when it gives up
    // (the stream answered an error), start again from the last event seen.
    if (source.readyState === EventSource.CLOSED) {
      setTimeout(() => current === search && !search.done && listen(search), 1000);
    }
  };
}

// The rules the API enforces on travellers, checked before sending.
function travellerErrors(t) {
  const errors = [];
  if (!Number.isInteger(t.adults) || t.adults < 1 || t.adults > 9) {
    errors.push({ field: "adults", message: "From 1 to 9 adults." });
  }
  if (!Number.isInteger(t.children) || t.children < 0) {
    errors.push({ field: "children", message: "A whole number, 0 or more." });
  } else if (t.adults + t.children > 9) {
    errors.push({ field: "children", message: "Adults and children together: 9 at most." });
  }
  if (!Number.isInteger(t.infants) || t.infants < 0) {
    errors.push({ field: "infants", message: "A whole number, 0 or more." });
  } else if (t.infants > t.adults) {
    errors.push({ field: "infants", message: "At most one infant per adult: each sits on an adult's lap." });
  }
  return errors;
}

async function submit(event) {
  event.preventDefault();
  clearErrors();
  const count = (id) => Number($(id).value || "0");
  const passengers = { adults: count("adults"), children: count("children"), infants: count("infants") };
  const refused = travellerErrors(passengers);
  if (refused.length) {
    showErrors({ errors: refused });
    return;
  }
  const body = {
    from: $("from").value.trim().toUpperCase(),
    to: $("to").value.trim().toUpperCase(),
    date: $("date").value,
    passengers,
    cabin: $("cabin").value,
  };
  if ($("return_date").value) body.return_date = $("return_date").value;
  if ($("currency").value) body.currency = $("currency").value;
  const button = $("submit");
  button.disabled = true;
  try {
    const res = await fetch("/api/flights/search", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await res.json().catch(() => ({ message: `HTTP ${res.status}` }));
    if (res.status !== 202) {
      showErrors(answer);
      return;
    }
    start({ ...answer.data, roundTrip: Boolean(body.return_date) });
  } catch (e) {
    $("form-error").textContent = `The search could not be sent: ${e.message}`;
  } finally {
    button.disabled = false;
  }
}

function start(data) {
  if (current && current.source) current.source.close();
  const search = {
    id: data.search_id,
    streamUrl: data.stream_url,
    providers: data.providers,
    status: new Map(data.providers.map((p) => [p, { status: "waiting" }])),
    offers: [],
    lastId: 0,
    done: false,
    expanded: new Set(),
    roundTrip: Boolean(data.roundTrip),
  };
  current = search;
  const results = $("results");
  results.dataset.state = "running";
  results.dataset.searchId = search.id;
  delete results.dataset.status;
  fillAirlineFilter(search);
  renderOffers(search);
  renderAirlines(search);
  summary(`Searching ${search.providers.length} airlines…`);
  listen(search);
}

// The currencies the server can show prices in; the field shows only
// when there are some.
async function loadCurrencies() {
  try {
    const res = await fetch("/api/currencies");
    if (!res.ok) return;
    const { currencies } = (await res.json()).data;
    if (!currencies.length) return;
    $("currency").append(...currencies.map((c) => new Option(c, c)));
    $("currency-field").hidden = false;
  } catch (_) {
    // Prices stay in each airline's currency.
  }
}

async function loadNames() {
  try {
    const res = await fetch("/api/providers");
    if (!res.ok) return;
    for (const p of (await res.json()).data) if (p.name) names.set(p.id, p.name);
  } catch (_) {
    // Chips fall back to provider ids.
  }
}

$("date").value = isoDateIn(14);
$("search").addEventListener("submit", submit);
for (const id of ["f-airline", "f-time", "f-max", "sort"]) {
  $(id).addEventListener("input", () => current && renderOffers(current));
}
for (const box of document.querySelectorAll("input[name=stops]")) {
  box.addEventListener("change", () => current && renderOffers(current));
}
loadAirports();
loadNames();
loadCurrencies();
