// Drives airstream's search page in a real headless Chromium (Debian's
// /usr/bin/chromium through playwright-core) against a running server.
// Run by the Rust test `browser::the_search_page_works_in_a_real_browser`:
//
//   node tests/browser/search_page.mjs <base url> <artifacts dir>
//
// Exits non-zero, saying what failed, when an expectation does not hold.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [base, artifacts] = process.argv.slice(2);
if (!base || !artifacts) {
  console.error("usage: search_page.mjs <base url> <artifacts dir>");
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });

function check(ok, what) {
  if (!ok) throw new Error(what);
  console.log(`ok: ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", (e) => { throw new Error(`page error: ${e.message}`); });
  await page.goto(base + "/");

  // Suggestions come from the airports the airlines serve.
  await page.waitForFunction(() => document.querySelectorAll("#airports option").length > 0);
  const airports = await page.$$eval("#airports option", (os) => os.map((o) => o.value));
  check(airports.includes("CGK") && airports.includes("DPS"), `airport suggestions include CGK and DPS (${airports.length} airports)`);

  // Every field has a label.
  for (const id of ["from", "to", "date", "return_date", "adults", "children", "infants", "cabin"]) {
    const label = await page.$(`label[for="${id}"]`);
    check(label !== null, `field ${id} has a label`);
  }

  // An invalid search shows the field's error next to it.
  await page.fill("#from", "CGK");
  await page.fill("#to", "CGK");
  await page.click("#submit");
  await page.waitForFunction(() => document.getElementById("to-error").textContent.length > 0);
  const toError = await page.textContent("#to-error");
  check(/differ/.test(toError), `a 422 puts its message next to the field: "${toError}"`);
  check(await page.getAttribute("#to", "aria-invalid") === "true", "the invalid field is marked aria-invalid");

  // An airport's suggestion carries its name and city.
  const cgk = await page.$eval("#airports option[value=CGK]", (o) => o.label);
  check(/Jakarta/.test(cgk), `the CGK suggestion names its city: "${cgk}"`);

  // More infants than adults is refused before anything is sent.
  let posts = 0;
  page.on("request", (r) => { if (r.method() === "POST") posts += 1; });
  await page.fill("#to", "DPS");
  await page.fill("#adults", "1");
  await page.fill("#infants", "2");
  await page.click("#submit");
  await page.waitForFunction(() => document.getElementById("infants-error").textContent.length > 0);
  const infantsError = await page.textContent("#infants-error");
  check(posts === 0 && /one infant per adult/.test(infantsError),
    `two infants for one adult are refused before submit: "${infantsError}"`);

  // A family (2 adults, 1 child, 1 infant), submitted from the keyboard.
  await page.fill("#adults", "2");
  await page.fill("#children", "1");
  await page.fill("#infants", "1");
  await page.focus("#adults");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.getElementById("results").dataset.state === "running");
  const heightRunning = await page.$eval("#results", (el) => el.getBoundingClientRect().top);
  await page.waitForFunction(() => document.getElementById("results").dataset.state === "complete", null, { timeout: 20000 });
  const heightDone = await page.$eval("#results", (el) => el.getBoundingClientRect().top);
  check(heightRunning === heightDone, "the results do not move while offers stream in");
  const searchId = await page.$eval("#results", (el) => el.dataset.searchId);

  // The progress bar is full once the search is complete.
  const progress = await page.$eval("#progress", (el) => [el.getAttribute("aria-valuenow"), el.getAttribute("aria-valuemax")]);
  check(progress[0] === progress[1] && Number(progress[1]) > 0, `the progress bar reaches its end (${progress.join(" of ")})`);
  // Every control on the page has a label.
  const unlabelled = await page.$$eval("input, select", (els) => els
    .filter((el) => !el.closest("label") && !document.querySelector(`label[for="${el.id}"]`))
    .map((el) => el.id || el.name));
  check(unlabelled.length === 0, `every control has a label (${JSON.stringify(unlabelled)})`);

  // Every airline's status is shown, none still waiting.
  const statuses = await page.$$eval("#airlines li", (lis) => lis.map((li) => [li.dataset.provider, li.dataset.status]));
  check(statuses.length > 0 && statuses.every(([, s]) => ["ok", "error", "timeout"].includes(s)),
    `every airline has a final status: ${JSON.stringify(statuses)}`);

  // Offers sorted by price, and as many as the API's snapshot holds.
  const rows = await page.$$eval("#offer-rows tr.offer", (trs) => trs.map((tr) => [tr.dataset.currency, Number(tr.dataset.total)]));
  const sorted = rows.every((r, i) => i === 0 || rows[i - 1][0] < r[0] || (rows[i - 1][0] === r[0] && rows[i - 1][1] <= r[1]));
  check(rows.length > 0 && sorted, `${rows.length} offers, sorted by price`);
  const snapshot = await (await fetch(`${base}/api/flights/search/${searchId}`)).json();
  const journeys = (offers) => new Set(offers.map((o) => o.itinerary)).size;
  check(journeys(snapshot.data.offers) === rows.length,
    `the page shows each of the snapshot's ${journeys(snapshot.data.offers)} journeys once (${snapshot.data.total_offers} offers)`);
  check(JSON.stringify(snapshot.data.request.travellers) === JSON.stringify({ adults: 2, children: 1, infants: 1 }),
    `the search was for the family: ${JSON.stringify(snapshot.data.request.travellers)}`);
  const shownTotals = await page.$$eval("#offer-rows tr.offer", (trs) => trs.map((tr) => [tr.dataset.id, tr.dataset.total]));
  const apiTotals = new Map(snapshot.data.offers.map((o) => [o.id, o.price.total]));
  check(shownTotals.every(([id, total]) => apiTotals.get(id) === total),
    "every offer's total on the page is the API's");
  const chips = await page.$$eval("#airlines li", (lis) => lis.map((li) => li.textContent));
  check(chips.some((c) => c.includes("Garuda Indonesia")), `the chips name the airlines: ${JSON.stringify(chips.slice(0, 3))}`);
  const summary = await page.textContent("#summary");
  check(/offers from/.test(summary), `a summary: "${summary}"`);
  await page.screenshot({ path: join(artifacts, "search-desktop.png"), fullPage: true });

  // Each filter and sort changes the list as the API's offers say it should.
  const offersOf = (pred) => snapshot.data.offers.filter(pred);
  const pageRows = () => page.$$eval("#offer-rows tr.offer", (trs) => trs.map((tr) => ({
    id: tr.dataset.id, total: Number(tr.dataset.total), stops: Number(tr.dataset.stops),
    provider: tr.dataset.provider, depart: tr.dataset.depart, duration: Number(tr.dataset.duration) })));
  await page.uncheck("input[name=stops][value='0']");
  let now = await pageRows();
  check(now.length === journeys(offersOf((o) => o.stops >= 1)) && now.every((r) => r.stops >= 1),
    `without direct flights: ${now.length} journeys, all with a stop`);
  await page.check("input[name=stops][value='0']");
  await page.selectOption("#f-airline", "garuda");
  now = await pageRows();
  check(now.length === journeys(offersOf((o) => o.provider === "garuda")) && now.every((r) => r.provider === "garuda"),
    `Garuda only: ${now.length} journeys`);
  await page.selectOption("#f-airline", "");
  await page.selectOption("#f-time", "morning");
  now = await pageRows();
  const morning = (d) => Number(d.slice(11, 13)) >= 5 && Number(d.slice(11, 13)) < 12;
  check(now.length === journeys(offersOf((o) => morning(o.depart_at))) && now.every((r) => morning(r.depart)),
    `morning departures: ${now.length} journeys`);
  await page.selectOption("#f-time", "");
  const totals = snapshot.data.offers.map((o) => Number(o.price.total)).sort((a, b) => a - b);
  const cap = totals[Math.floor(totals.length / 2)];
  await page.fill("#f-max", String(cap));
  now = await pageRows();
  check(now.length === journeys(offersOf((o) => Number(o.price.total) <= cap)) && now.every((r) => r.total <= cap),
    `at most ${cap}: ${now.length} journeys`);
  await page.fill("#f-max", "");
  await page.selectOption("#sort", "duration");
  now = await pageRows();
  check(now.every((r, i) => i === 0 || now[i - 1].duration <= r.duration), "sorted by duration");
  await page.selectOption("#sort", "depart");
  now = await pageRows();
  check(now.every((r, i) => i === 0 || now[i - 1].depart <= r.depart), "sorted by departure");
  await page.selectOption("#sort", "price");

  // A connecting offer expanded: its segments, the layover and the fare.
  await page.selectOption("#f-airline", "singapore");
  await page.click("#offer-rows tr.offer button.details");
  const detail = await page.textContent("#offer-rows tr.detail");
  check(/Connection in SIN: \d+h/.test(detail) && /SQ\d+: CGK/.test(detail), `the expanded offer shows its segments and layover: "${detail.slice(0, 120)}…"`);
  check(/Fare: Lite/.test(detail) && /checked bags: 1 × 25 kg/.test(detail) && /not refundable/.test(detail),
    "the expanded offer shows its brand, bags and conditions");
  check(/2 × adult .*1 × child .*1 × infant/.test(detail) && /base .*taxes/.test(detail) && /Price holds until/.test(detail),
    "the expanded offer shows base, taxes, each traveller type and until when the price holds");
  check(await page.getAttribute("#offer-rows tr.offer button.details", "aria-expanded") === "true", "the toggle says it is expanded");
  const showDetail = () => page.$eval("#offer-rows tr.detail", (el) => el.scrollIntoView({ block: "center" }));
  await showDetail();
  await page.screenshot({ path: join(artifacts, "offer-expanded-desktop.png"), fullPage: false });
  await page.setViewportSize({ width: 390, height: 844 });
  await showDetail();
  await page.screenshot({ path: join(artifacts, "offer-expanded-phone.png"), fullPage: false });
  const phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(phoneOverflow <= 1, `an expanded offer fits a phone's width (overflow ${phoneOverflow}px)`);
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.selectOption("#f-airline", "");

  // The same flight sold by two airlines shows once, with both sellers.
  await page.fill("#to", "YIA");
  await page.fill("#adults", "1");
  await page.fill("#children", "0");
  await page.fill("#infants", "0");
  await page.click("#submit");
  await page.waitForFunction((old) => document.getElementById("results").dataset.searchId !== old, searchId);
  await page.waitForFunction(() => document.getElementById("results").dataset.state === "complete", null, { timeout: 20000 });
  const shared = await page.$$eval("#offer-rows tr.offer", (trs) => trs.filter((tr) => tr.dataset.sellers === "2").map((tr) => tr.textContent));
  check(shared.length > 0 && shared.every((t) => /also/.test(t)), `a codeshare shows once with its other seller: ${JSON.stringify(shared[0])}`);

  // A round trip lists its outbound and return flights apart.
  await page.fill("#to", "DPS");
  await page.fill("#return_date", await page.$eval("#date", (d) => {
    const x = new Date(d.value); x.setDate(x.getDate() + 5); return x.toISOString().slice(0, 10); }));
  const beforeTrip = await page.$eval("#results", (el) => el.dataset.searchId);
  await page.click("#submit");
  await page.waitForFunction((old) => document.getElementById("results").dataset.searchId !== old, beforeTrip);
  await page.waitForFunction(() => document.getElementById("results").dataset.state === "complete", null, { timeout: 20000 });
  const heads = await page.$$eval("#offer-rows tr.leg-head", (trs) => trs.map((tr) => tr.textContent));
  check(JSON.stringify(heads) === JSON.stringify(["Outbound", "Return"]), `a round trip has an outbound and a return list: ${JSON.stringify(heads)}`);
  await page.fill("#return_date", "");

  // Prices in dollars, and a filter set before the search that holds while
  // its offers stream in.
  check(await page.isVisible("#currency"), "the server has rates, so the page offers a display currency");
  await page.selectOption("#currency", "USD");
  await page.selectOption("#f-airline", "garuda");
  const beforeUsd = await page.$eval("#results", (el) => el.dataset.searchId);
  await page.click("#submit");
  await page.waitForFunction((old) => document.getElementById("results").dataset.searchId !== old, beforeUsd);
  await page.waitForFunction(() => document.getElementById("results").dataset.state === "complete", null, { timeout: 20000 });
  const usd = await page.$$eval("#offer-rows tr.offer", (trs) => trs.map((tr) => ({
    provider: tr.dataset.provider, converted: Number(tr.dataset.converted), text: tr.querySelector(".price").textContent })));
  check(usd.length > 0 && usd.every((r) => r.provider === "garuda"), `the airline filter held while offers arrived (${usd.length} journeys)`);
  check(usd.every((r, i) => r.converted > 0 && (i === 0 || usd[i - 1].converted <= r.converted)) && /\$/.test(usd[0].text),
    `prices shown in dollars, cheapest first: "${usd[0].text}"`);
  await page.selectOption("#currency", "");
  await page.selectOption("#f-airline", "");
  const tripId = await page.$eval("#results", (el) => el.dataset.searchId);

  // A second search replaces the first cleanly.
  await page.selectOption("#cabin", "business");
  await page.click("#submit");
  await page.waitForFunction((old) => document.getElementById("results").dataset.searchId !== old, tripId);
  await page.waitForFunction(() => document.getElementById("results").dataset.state === "complete", null, { timeout: 20000 });
  const secondId = await page.$eval("#results", (el) => el.dataset.searchId);
  const second = await (await fetch(`${base}/api/flights/search/${secondId}`)).json();
  const secondRows = await page.$$eval("#offer-rows tr.offer", (trs) => trs.length);
  check(secondRows === journeys(second.data.offers), `the second search replaced the first (${secondRows} journeys)`);

  // The stream drops after two events: the page reconnects and ends with
  // every offer exactly once (events it already has are skipped by id,
  // whether or not the reconnection names the last one).
  const streamCalls = [];
  await page.route("**/stream*", async (route) => {
    const request = route.request();
    // The browser resumes with the Last-Event-ID header; the page itself,
    // when the browser gives up, with the last_event_id parameter.
    const resumeAt = request.headers()["last-event-id"]
      || new URL(request.url()).searchParams.get("last_event_id");
    streamCalls.push(resumeAt || null);
    if (streamCalls.length > 1) return route.continue();
    const full = await route.fetch();
    const text = await full.text();
    const cut = text.split("\n\n").slice(0, 2).join("\n\n") + "\n\n";
    await route.fulfill({ status: 200, headers: { "content-type": "text/event-stream" }, body: cut });
  });
  await page.selectOption("#cabin", "economy");
  await page.click("#submit");
  await page.waitForFunction((old) => document.getElementById("results").dataset.searchId !== old, secondId);
  await page.waitForFunction(() => document.getElementById("results").dataset.state === "complete", null, { timeout: 20000 });
  await page.unroute("**/stream*");
  check(streamCalls.length === 2, `the dropped stream was opened again (resume position per call: ${JSON.stringify(streamCalls)})`);
  const thirdId = await page.$eval("#results", (el) => el.dataset.searchId);
  const third = await (await fetch(`${base}/api/flights/search/${thirdId}`)).json();
  const thirdRows = await page.$$eval("#offer-rows tr.offer", (trs) => trs.map((tr) => tr.dataset.id));
  check(thirdRows.length === journeys(third.data.offers) && new Set(thirdRows).size === thirdRows.length,
    `after the resume, every journey once (${thirdRows.length} of ${journeys(third.data.offers)})`);
  // The same question as the dollar search: the upstream airlines' answers
  // were kept, and their chips say so.
  const kept = await page.$$eval("#airlines li", (lis) => lis
    .filter((li) => li.dataset.cached === "true").map((li) => li.textContent));
  check(kept.length > 0 && kept.every((t) => /ok · \d+ · kept \d+ s/.test(t)),
    `airlines answered from the cache say so: ${JSON.stringify(kept)}`);

  // Phone width: the form and the offers fit without sideways scrolling.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(artifacts, "search-phone.png"), fullPage: true });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  const wide = await page.evaluate(() => [...document.querySelectorAll("body *")]
    .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
    .slice(0, 5).map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className}`));
  check(overflow <= 1, `no sideways scrolling at phone width (overflow ${overflow}px; too wide: ${wide.join(", ")})`);
} finally {
  await browser.close();
}
