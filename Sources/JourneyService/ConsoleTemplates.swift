/// The console's pages as Mustache templates (`{{x}}` is HTML-escaped; only the diagram's SVG,
/// which Graphviz wrote from escaped labels, is put in raw) and its one stylesheet. They are
/// compiled into the binary: the server needs no files beside it.
enum ConsoleTemplates {
    static let layout = """
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{{title}} · journey console</title>
    <link rel="stylesheet" href="/console/style.css">
    <link rel="icon" href="/console/icon.svg" type="image/svg+xml">
    </head>
    <body>
    <a class="skip" href="#main">Skip to the content</a>
    <header class="top">
    <nav aria-label="Console">
    <a class="brand" href="/console">journey</a>
    <ul>
    <li><a href="/console"{{#navJourneys}} aria-current="page"{{/navJourneys}}>Journeys</a></li>
    <li><a href="/console/profiles"{{#navProfiles}} aria-current="page"{{/navProfiles}}>Profiles</a></li>
    <li><a href="/console/deliveries"{{#navDeliveries}} aria-current="page"{{/navDeliveries}}>Deliveries</a></li>
    <li><a href="/console/rejects"{{#navRejects}} aria-current="page"{{/navRejects}}>Rejects</a></li>
    </ul>
    {{#signedIn}}
    <form class="signout" method="post" action="/console/logout">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <button type="submit">Sign out</button>
    </form>
    {{/signedIn}}
    </nav>
    </header>
    <main id="main">
    {{{body}}}
    </main>
    </body>
    </html>

    """

    /// `journey simulate --report`: one file, its stylesheet inside.
    static let report = """
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
    <title>Simulation report · journey</title>
    <style>
    {{{css}}}
    </style>
    </head>
    <body>
    <a class="skip" href="#main">Skip to the content</a>
    <header class="top"><nav aria-label="Journeys"><span class="brand">journey</span><ul>
    {{#journeys}}<li><a href="#{{name}}">{{name}}</a></li>{{/journeys}}
    </ul></nav></header>
    <main id="main">
    <h1>Simulation report</h1>
    <p>{{subtitle}}</p>
    <div class="scroll">
    <table>
    <caption>Each journey of the project in this simulation.</caption>
    <thead><tr><th scope="col">Journey</th><th scope="col" class="num">Entered</th><th scope="col" class="num">Converted</th><th scope="col" class="num">Conversion rate</th></tr></thead>
    <tbody>
    {{#journeys}}<tr><th scope="row"><a href="#{{name}}">{{name}}</a></th><td class="num">{{entered}}</td><td class="num">{{converted}}</td><td class="num">{{rate}}</td></tr>
    {{/journeys}}
    </tbody>
    </table>
    </div>
    {{{body}}}
    </main>
    </body>
    </html>

    """

    static let login = """
    <h1>Sign in</h1>
    {{#problem}}<p class="problem" role="alert">{{problem}}</p>{{/problem}}
    <form class="login" method="post" action="/console/login">
    <input type="hidden" name="login" value="{{loginToken}}">
    <label for="key">Admin key</label>
    <input id="key" name="key" type="password" autocomplete="current-password" required autofocus>
    <button type="submit">Sign in</button>
    </form>
    <p class="hint">The admin key is one of <code>admin_keys</code> in the service's configuration (or <code>JOURNEY_ADMIN_KEYS</code>).</p>

    """

    static let journeys = """
    <h1>Journeys</h1>
    {{^journeys}}<p>No journey is deployed yet: build a bundle and deploy it with <code>journey deploy</code>.</p>{{/journeys}}
    {{#hasJourneys}}
    <div class="scroll">
    <table>
    <caption>Customers in each journey, over all its versions; the version is the one new entries run.</caption>
    <thead><tr><th scope="col">Journey</th><th scope="col" class="num">Entered</th><th scope="col" class="num">Active</th><th scope="col" class="num">Converted</th><th scope="col" class="num">Conversion rate</th><th scope="col">Version</th><th scope="col">Last deploy</th></tr></thead>
    <tbody>
    {{#journeys}}
    <tr>
    <th scope="row"><a href="/console/journeys/{{name}}">{{name}}</a>{{#title}}<span class="sub">{{title}}</span>{{/title}}</th>
    <td class="num">{{entered}}</td><td class="num">{{active}}</td><td class="num">{{converted}}</td><td class="num">{{rate}}</td>
    <td><code>{{version}}</code>{{#versions}} <span class="sub">{{versions}}</span>{{/versions}}</td><td>{{deployed}}</td>
    </tr>
    {{/journeys}}
    </tbody>
    </table>
    </div>
    {{/hasJourneys}}

    """

    static let journey = """
    <h1>{{name}}{{#title}} <span class="sub">{{title}}</span>{{/title}}</h1>
    {{#version}}<p>Version <code>{{version}}</code>{{#current}} (current){{/current}}{{^current}} (earlier){{/current}}{{#deployed}}, deployed {{deployed}}{{/deployed}}.
    {{#hasOtherVersions}}Other versions: {{#otherVersions}}<a href="/console/journeys/{{name}}?version={{hash}}"><code>{{short}}</code></a> {{/otherVersions}}{{/hasOtherVersions}}</p>{{/version}}
    <dl class="kpis">
    <div><dt>Entered</dt><dd>{{entered}}</dd></div>
    <div><dt>Active</dt><dd>{{active}}</dd></div>
    <div><dt>Converted</dt><dd>{{converted}}</dd></div>
    <div><dt>Conversion rate</dt><dd>{{rate}}</dd></div>
    <div><dt>Exited</dt><dd>{{exited}}</dd></div>
    <div><dt>Completed</dt><dd>{{completed}}</dd></div>
    {{#failed}}<div><dt>Failed</dt><dd>{{failed}}</dd></div>{{/failed}}
    <div><dt>Median time to convert</dt><dd>{{timeToConvert}}{{#conversions}}<span class="sub">{{conversions}}</span>{{/conversions}}</dd></div>
    </dl>
    <section aria-labelledby="diagram">
    <h2 id="diagram">Diagram</h2>
    {{#svg}}<figure class="diagram">{{{svg}}}<figcaption>Each step with how many customers reached it and how many wait there now; each branch with how many took it. The table below has the same numbers.</figcaption></figure>{{/svg}}
    {{^svg}}<p class="hint">{{noDiagram}}</p>{{/svg}}
    </section>
    <section aria-labelledby="steps">
    <h2 id="steps">Steps</h2>
    <div class="scroll">
    <table>
    <thead><tr><th scope="col" class="num">Line</th><th scope="col">Step</th><th scope="col" class="num">Reached</th><th scope="col" class="num">Waiting</th><th scope="col">Outcomes</th></tr></thead>
    <tbody>
    {{#steps}}<tr><td class="num">{{line}}</td><th scope="row"><code>{{label}}</code></th><td class="num">{{reached}}</td><td class="num">{{waiting}}</td><td>{{outcomes}}</td></tr>
    {{/steps}}
    </tbody>
    </table>
    </div>
    </section>
    {{#hasSplits}}
    <section aria-labelledby="splits">
    <h2 id="splits">Splits</h2>
    {{#splits}}
    <h3>Split at line {{line}}</h3>
    <p>{{controlText}}</p>
    <div class="scroll">
    <table>
    <thead><tr><th scope="col">Branch</th><th scope="col" class="num">Entered</th><th scope="col" class="num">Converted</th><th scope="col" class="num">Rate</th></tr></thead>
    <tbody>
    {{#branches}}<tr><th scope="row">{{label}}</th><td class="num">{{entered}}</td><td class="num">{{converted}}</td><td class="num">{{rate}}</td></tr>
    {{/branches}}
    </tbody>
    </table>
    </div>
    {{#hasComparisons}}
    <div class="scroll">
    <table class="lift">
    <caption>Each branch against the control: the difference of conversion rates in points, with its 95% interval (Newcombe's hybrid score interval).</caption>
    <thead><tr><th scope="col">Branch</th><th scope="col" class="num">Lift</th><th scope="col">95% interval</th><th scope="col" class="num">Relative</th><th scope="col" class="num">p</th><th scope="col">Verdict</th></tr></thead>
    <tbody>
    {{#comparisons}}<tr><th scope="row">{{branch}} vs {{control}}</th><td class="num">{{lift}}</td><td>{{interval}}</td><td class="num">{{relative}}</td><td class="num">{{p}}</td><td class="verdict {{verdictClass}}">{{verdict}}</td></tr>
    {{/comparisons}}
    </tbody>
    </table>
    </div>
    {{/hasComparisons}}
    {{/splits}}
    </section>
    {{/hasSplits}}

    """

    static let profile = """
    <h1>Profiles</h1>
    <form class="search" method="get" action="/console/profiles" role="search">
    <label for="id">Profile id</label>
    <input id="id" name="id" value="{{query}}" required>
    <button type="submit">Find</button>
    </form>
    {{#notFound}}<p class="problem" role="status">No profile has the id “{{query}}”.</p>{{/notFound}}
    {{#profile}}
    <h2>{{id}}</h2>
    <section aria-labelledby="attributes">
    <h3 id="attributes">Attributes</h3>
    <div class="scroll">
    <table class="pairs">
    <tbody>
    {{#attributes}}<tr><th scope="row">{{name}}</th><td><code>{{value}}</code></td></tr>
    {{/attributes}}
    </tbody>
    </table>
    </div>
    </section>
    <section aria-labelledby="journeys">
    <h3 id="journeys">Journeys</h3>
    {{^journeys}}<p>Not in any journey.</p>{{/journeys}}
    {{#hasJourneys}}
    <div class="scroll">
    <table>
    <thead><tr><th scope="col">Journey</th><th scope="col">State</th><th scope="col">Since</th><th scope="col">Where</th></tr></thead>
    <tbody>
    {{#journeys}}<tr><th scope="row"><a href="/console/journeys/{{journey}}">{{journey}}</a></th><td><span class="state {{state}}">{{state}}</span></td><td>{{since}}</td><td>{{where}}</td></tr>
    {{/journeys}}
    </tbody>
    </table>
    </div>
    {{/hasJourneys}}
    </section>
    <section aria-labelledby="timeline">
    <h3 id="timeline">Timeline</h3>
    <p class="hint">Newest first: events, journeys entered and ended, and messages with where their delivery stands.</p>
    <ol class="timeline">
    {{#timeline}}<li class="{{kind}}"><time datetime="{{iso}}">{{time}}</time> <span class="what">{{what}}</span>{{#detail}} <span class="detail">{{detail}}</span>{{/detail}}</li>
    {{/timeline}}
    </ol>
    </section>
    {{/profile}}

    """

    static let deliveries = """
    <h1>Deliveries</h1>
    {{#flash}}<p class="flash" role="status">{{flash}}</p>{{/flash}}
    <p>Waiting for delivery: {{^pending}}none.{{/pending}}{{#pending}}<span class="pending">{{channel}} {{count}}</span> {{/pending}}</p>
    <h2>Failed</h2>
    {{^failed}}<p>No message has failed its delivery.</p>{{/failed}}
    {{#more}}<p class="hint">The newest {{shown}} of {{total}}.</p>{{/more}}
    {{#failed}}
    <article class="failure" aria-labelledby="m-{{anchor}}">
    <h3 id="m-{{anchor}}"><code>{{id}}</code> · {{channel}} · {{journey}}</h3>
    <p>To <a href="/console/profiles?id={{profileQuery}}">{{profile}}</a>{{#address}} at <code>{{address}}</code>{{/address}}, sent {{at}}.</p>
    <div class="scroll">
    <table>
    <thead><tr><th scope="col" class="num">Attempt</th><th scope="col">At</th><th scope="col" class="num">HTTP</th><th scope="col">Error</th><th scope="col">Outcome</th></tr></thead>
    <tbody>
    {{#attempts}}<tr><td class="num">{{n}}</td><td>{{at}}</td><td class="num">{{code}}</td><td>{{error}}</td><td>{{outcome}}</td></tr>
    {{/attempts}}
    </tbody>
    </table>
    </div>
    <form method="post" action="/console/deliveries/{{pathID}}/redeliver">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <button type="submit">Redeliver <span class="visually-hidden">message {{id}}</span></button>
    </form>
    </article>
    {{/failed}}

    """

    static let rejects = """
    <h1>Rejects</h1>
    <p>Input lines refused (kept here, never dropped) and instances that failed, with the reason.</p>
    {{^rejects}}<p>Nothing was rejected.</p>{{/rejects}}
    {{#more}}<p class="hint">The newest {{shown}} of {{total}}; <code>journey rejects</code> prints them all.</p>{{/more}}
    {{#hasRejects}}
    <div class="scroll">
    <table>
    <thead><tr><th scope="col">At</th><th scope="col">Source</th><th scope="col" class="num">Line</th><th scope="col">Reason</th><th scope="col">Line as given</th></tr></thead>
    <tbody>
    {{#rejects}}<tr><td>{{at}}</td><td>{{source}}</td><td class="num">{{line}}</td><td>{{reason}}</td><td><code>{{raw}}</code></td></tr>
    {{/rejects}}
    </tbody>
    </table>
    </div>
    {{/hasRejects}}

    """

    static let error = """
    <h1>{{heading}}</h1>
    <p>{{message}}</p>

    """

    /// The console's icon: a path through three steps.
    static let icon = """
    <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#111827"/><path d="M8 8h8v8h8v8" fill="none" stroke="#60a5fa" stroke-width="3"/><circle cx="8" cy="8" r="3" fill="#fff"/><circle cx="24" cy="24" r="3" fill="#fff"/></svg>

    """

    /// One stylesheet, served by the console itself (the CSP allows no other).
    static let css = """
    :root { --ink: #111827; --muted: #4b5563; --line: #d1d5db; --accent: #1d4ed8; --bg: #ffffff; --soft: #f3f4f6; --good: #166534; --bad: #991b1b; }
    * { box-sizing: border-box; }
    body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
    a { color: var(--accent); }
    a:focus-visible, button:focus-visible, input:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
    .skip { position: absolute; left: -9999px; }
    .skip:focus { left: 1rem; top: 1rem; background: var(--bg); padding: .5rem; z-index: 1; }
    .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
    header.top { background: var(--ink); color: #fff; }
    header.top nav { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1.5rem; max-width: 72rem; margin: 0 auto; padding: .75rem 1rem; }
    header.top a { color: #fff; text-decoration: none; }
    header.top a[aria-current="page"] { text-decoration: underline; text-underline-offset: .3em; }
    .brand { font-weight: 700; }
    header.top ul { display: flex; flex-wrap: wrap; gap: 1rem; list-style: none; margin: 0; padding: 0; }
    .signout { margin-left: auto; }
    .signout button { background: transparent; color: #fff; border: 1px solid #9ca3af; }
    main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
    h1 { font-size: 1.6rem; margin: .5rem 0 1rem; }
    h2 { font-size: 1.25rem; margin: 2rem 0 .75rem; }
    h3 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
    .sub { display: block; color: var(--muted); font-weight: 400; font-size: .9em; }
    h1 .sub, section > h2 .sub { display: inline; }
    .hint { color: var(--muted); }
    .problem { color: var(--bad); font-weight: 600; }
    .flash { background: #ecfdf5; border-left: 4px solid var(--good); padding: .5rem .75rem; }
    .scroll { overflow-x: auto; }
    table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
    caption { text-align: left; color: var(--muted); padding-bottom: .25rem; }
    th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
    thead th { background: var(--soft); }
    .pairs th { width: 30%; }
    .num { text-align: right; font-variant-numeric: tabular-nums; }
    code { font: .9em ui-monospace, SFMono-Regular, Menlo, monospace; overflow-wrap: anywhere; }
    .kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(9rem, 1fr)); gap: .75rem; margin: 1rem 0; }
    .kpis div { background: var(--soft); padding: .6rem .8rem; border-radius: .4rem; }
    .kpis dt { color: var(--muted); font-size: .85rem; }
    .kpis dd { margin: 0; font-size: 1.4rem; font-weight: 600; }
    .kpis dd .sub { font-size: .8rem; }
    .diagram { margin: 0; overflow-x: auto; }
    .diagram svg { max-width: 100%; height: auto; }
    figcaption { color: var(--muted); font-size: .9rem; }
    .verdict.better { color: var(--good); font-weight: 600; }
    .verdict.worse { color: var(--bad); font-weight: 600; }
    form.search, form.login { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: 1rem 0; }
    form.login { max-width: 28rem; }
    input { font: inherit; padding: .4rem .6rem; border: 1px solid #6b7280; border-radius: .3rem; min-width: 14rem; }
    button { font: inherit; padding: .4rem .9rem; border-radius: .3rem; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
    .timeline { list-style: none; padding: 0; }
    .timeline li { padding: .4rem 0; border-bottom: 1px solid var(--line); }
    .timeline time { color: var(--muted); font-variant-numeric: tabular-nums; margin-right: .5rem; }
    .timeline .detail { color: var(--muted); display: block; overflow-wrap: anywhere; }
    .state.failed, .state.exited { color: var(--bad); }
    .state.converted { color: var(--good); }
    .failure { border: 1px solid var(--line); border-radius: .4rem; padding: .25rem 1rem 1rem; margin: 1rem 0; }
    .pending { background: var(--soft); padding: .1rem .5rem; border-radius: .3rem; }

    """
}
