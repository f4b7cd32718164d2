/// The portal's stylesheet and its one script, served from `tarmac up` itself (nothing loaded from another host). The
/// pages work without the script; it only makes them live: rows change state as transitions arrive (server-sent
/// events), logs stream, and the new-workload form checks itself as it is typed. It writes text with `textContent`
/// only, never HTML.
enum PortalAssets {
    static let css = """
    :root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--accent:#0a5bd3;--ok:#116329;--warn:#9a6700;--bad:#c21f2d;--soft:#f6f8fa}
    *{box-sizing:border-box}
    body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
    a{color:var(--accent)}
    a:focus,button:focus,input:focus,select:focus,textarea:focus{outline:3px solid #ffbf47;outline-offset:1px}
    .skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:4px 8px;z-index:2}
    .top{display:flex;flex-wrap:wrap;gap:8px 24px;align-items:center;padding:8px 16px;border-bottom:1px solid var(--line);background:var(--soft)}
    .brand{font-weight:700;text-decoration:none;color:var(--fg);font-size:18px}
    .top nav ul{display:flex;flex-wrap:wrap;gap:4px 16px;list-style:none;margin:0;padding:0}
    .top nav a[aria-current=page]{font-weight:700;color:var(--fg)}
    .who{margin-left:auto;display:flex;gap:8px;align-items:center;color:var(--muted);font-size:14px}
    .who form{margin:0}
    main{padding:8px 16px 32px;max-width:1200px}
    h1{font-size:24px;margin:12px 0}h2{font-size:19px;margin:20px 0 8px}
    .foot{padding:12px 16px;color:var(--muted);font-size:13px;border-top:1px solid var(--line)}
    table{border-collapse:collapse;width:100%}
    th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
    th{font-size:13px;color:var(--muted);font-weight:600}
    .scroll{overflow-x:auto}
    table.compact td{font-size:14px}
    td.time{white-space:nowrap}
    .state{font-weight:600;white-space:nowrap}
    .state-succeeded,.state-running,.fitsNow{color:var(--ok)}
    .state-failed,.state-cancelled,.neverFits,.error{color:var(--bad)}
    .state-queued,.state-admitted,.waits,.warning{color:var(--warn)}
    button,.button{font:inherit;padding:6px 14px;border:1px solid var(--line);border-radius:6px;background:#fff;cursor:pointer;color:var(--fg);text-decoration:none;display:inline-block}
    button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
    button.danger{color:var(--bad)}
    form.inline{display:inline}
    .field{margin:0 0 12px}
    .field label{display:block;font-weight:600;margin-bottom:2px}
    .field input,.field select,.field textarea{font:inherit;width:100%;max-width:560px;padding:6px 8px;border:1px solid var(--line);border-radius:6px}
    .field textarea{min-height:4.5em;font-family:ui-monospace,monospace;font-size:14px}
    .hint{color:var(--muted);font-size:13px;margin:2px 0 0}
    .problem{color:var(--bad);font-size:14px;margin:2px 0 0;white-space:pre-wrap}
    .problem.warning{color:var(--warn)}
    .cols{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:24px}
    @media (max-width:760px){.cols{grid-template-columns:1fr}.who{margin-left:0}main{padding:8px 10px 24px}th,td{padding:5px 4px;font-size:14px}.hide-narrow{display:none}}
    pre{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:8px;overflow:auto;font-size:13px;max-height:480px;white-space:pre-wrap;word-break:break-word}
    .card{border:1px solid var(--line);border-radius:8px;padding:10px 14px;margin:0 0 14px}
    .notice{border-left:4px solid var(--accent);background:var(--soft);padding:8px 12px;margin:8px 0}
    .notice.bad{border-color:var(--bad)}
    .notice:empty,.problem:empty{display:none}
    dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
    .bar{border:1px solid var(--line);border-radius:3px;display:block}
    .filters{display:flex;flex-wrap:wrap;gap:8px 12px;align-items:end;margin:0 0 12px}
    .filters .field{margin:0}
    .pager{display:flex;gap:12px;margin-top:10px}
    .muted{color:var(--muted)}
    """

    static let js = """
    "use strict";
    (function () {
      function text(el, s) { if (el) { el.textContent = s == null ? "" : String(s); } }
      function stateCell(td, state) { td.textContent = state; td.className = "state state-" + state; }

      // Live rows and states: transitions from the server (server-sent events), as they are stored.
      var live = document.querySelector("[data-live]");
      if (live && window.EventSource) {
        var es = new EventSource("/portal/events");
        es.addEventListener("workload", function (ev) {
          var w; try { w = JSON.parse(ev.data); } catch (e) { return; }
          var row = document.querySelector('tr[data-id="' + CSS.escape(w.id) + '"]');
          var table = document.getElementById("workloads");
          if (!row && table && table.dataset.insert === "yes") {
            var f = table.dataset;
            if ((!f.state || f.state === w.state) && (!f.team || f.team === w.team) && (!f.kind || f.kind.toLowerCase() === w.kind.toLowerCase())) {
              row = document.createElement("tr");
              row.dataset.id = w.id;
              var a = document.createElement("a"); a.href = "/portal/workloads/" + encodeURIComponent(w.id); a.textContent = w.name;
              var cells = [a, w.team, w.kind, w.size, "", w.attempt, ""];
              cells.forEach(function (c, i) { var td = document.createElement("td"); if (c instanceof Node) { td.appendChild(c); } else { td.textContent = c; } if (i === 4) { td.className = "state"; } row.appendChild(td); });
              var body = table.tBodies[0]; body.insertBefore(row, body.firstChild);
              var empty = document.getElementById("empty"); if (empty) { empty.remove(); }
            }
          }
          if (row) {
            var td = row.querySelector(".state"); if (td) { stateCell(td, w.state); }
            var att = row.querySelector(".attempt"); if (att) { text(att, w.attempt); }
          }
          var st = document.getElementById("state");
          if (st && st.dataset.id === w.id) {
            stateCell(st, w.state);
            text(document.getElementById("message"), w.message || "");
            if (["succeeded", "failed", "cancelled"].indexOf(w.state) >= 0) { var c = document.getElementById("cancel"); if (c) { c.remove(); } }
          }
        });
      }

      // Logs: the workload's log, streamed while it runs.
      var log = document.getElementById("log");
      if (log && log.dataset.src && window.fetch && window.TextDecoder) {
        fetch(log.dataset.src + "&follow=1", { credentials: "same-origin" }).then(function (r) {
          if (!r.ok || !r.body) { return; }
          log.textContent = "";
          var reader = r.body.getReader(), dec = new TextDecoder();
          function pump() { return reader.read().then(function (c) { if (c.done) { return; } log.textContent += dec.decode(c.value, { stream: true }); log.scrollTop = log.scrollHeight; return pump(); }); }
          return pump();
        }).catch(function () {});
      }

      // Rollouts refresh while one moves: the same page fetched again, its rollouts put in place (server-escaped HTML).
      var moving = document.querySelector("#rollouts[data-refresh]");
      if (moving && window.fetch && window.DOMParser) {
        var every = Math.max(2, parseInt(moving.dataset.refresh, 10) || 5) * 1000;
        (function again() {
          setTimeout(function () {
            fetch(location.href, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
              if (!html) { return; }
              var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("rollouts");
              var now = document.getElementById("rollouts");
              if (fresh && now) { now.replaceWith(fresh); }
              if (fresh && fresh.dataset.refresh) { again(); }
            }).catch(function () {});
          }, every);
        })();
      }

      // The new-workload form checks itself as it is typed: preview, diagnostics next to fields, feasibility.
      var form = document.getElementById("new-workload");
      if (form && window.fetch) {
        var timer = null, seq = 0;
        function check() {
          var mine = ++seq, body = new URLSearchParams(new FormData(form));
          fetch("/portal/new/check", { method: "POST", credentials: "same-origin", body: body, headers: { "Accept": "application/json" } })
            .then(function (r) { return r.ok ? r.json() : null; }).then(function (c) {
              if (!c || mine !== seq) { return; }
              text(document.getElementById("preview"), c.yaml);
              document.querySelectorAll(".problem[data-field]").forEach(function (p) { p.textContent = ""; p.className = "problem"; });
              Object.keys(c.fields || {}).forEach(function (k) {
                var p = document.querySelector('.problem[data-field="' + CSS.escape(k) + '"]');
                if (p) { p.textContent = c.fields[k].map(function (d) { return d.text; }).join("\\n"); p.className = "problem " + c.fields[k][0].severity; }
              });
              var g = document.getElementById("general");
              text(g, (c.general || []).map(function (d) { return d.text; }).join("\\n"));
              var fz = document.getElementById("feasibility");
              if (fz) { fz.className = "notice " + (c.verdict || ""); text(fz, c.feasibility || ""); }
              text(document.getElementById("estimate"), c.estimate || "");
            }).catch(function () {});
        }
        form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(check, 250); });

        // The working directory: the chosen folder packed as a tar archive here, uploaded, its digest kept in the form.
        var picker = document.getElementById("f-workdir-files");
        if (picker) {
          picker.addEventListener("change", function () {
            var files = Array.prototype.slice.call(picker.files || []), status = document.getElementById("workdir-status");
            if (!files.length) { return; }
            var top = (files[0].webkitRelativePath || files[0].name).split("/")[0];
            var skip = [".git", "__pycache__", "node_modules", ".venv"];
            var chosen = files.map(function (f) {
              var parts = (f.webkitRelativePath || f.name).split("/");
              return { path: parts.length > 1 ? parts.slice(1).join("/") : parts[0], file: f };
            }).filter(function (e) { return e.path && !e.path.split("/").some(function (p) { return skip.indexOf(p) >= 0; }); });
            text(status, "packing " + chosen.length + " files of " + top + "…");
            Promise.all(chosen.map(function (e) { return e.file.arrayBuffer().then(function (b) { return { path: e.path, bytes: new Uint8Array(b) }; }); }))
              .then(function (list) {
                var body = tar(list);
                text(status, "uploading " + list.length + " files (" + body.length + " bytes)…");
                return fetch("/portal/workdir", { method: "POST", body: body, credentials: "same-origin",
                  headers: { "Content-Type": "application/x-tar", "X-CSRF-Token": form.querySelector("input[name=csrf]").value } });
              })
              .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
              .then(function (a) {
                if (!a.ok) { text(status, "not uploaded: " + (typeof a.j.error === "string" ? a.j.error : (a.j.error && a.j.error.message) || "refused")); return; }
                document.getElementById("f-workdir").value = a.j.digest;
                document.getElementById("f-workdir-name").value = top;
                text(status, "uploaded " + top + ": " + a.j.files + " files, " + a.j.bytes + " bytes (" + a.j.digest.slice(0, 19) + "…)");
                check();
              }).catch(function (e) { text(status, "not uploaded: " + e); });
          });
        }
      }

      // A ustar archive of [{path, bytes}] (regular files, mode 0644, no times): what the server reads back.
      function tar(list) {
        var enc = new TextEncoder(), chunks = [], size = 0;
        function put(h, at, len, s) { var b = enc.encode(s); for (var i = 0; i < Math.min(len, b.length); i++) { h[at + i] = b[i]; } }
        function octal(v, width) { var s = v.toString(8); while (s.length < width) { s = "0" + s; } return s; }
        list.sort(function (a, b) { return a.path < b.path ? -1 : a.path > b.path ? 1 : 0; }).forEach(function (e) {
          var name = enc.encode(e.path), prefix = "", base = e.path;
          if (name.length > 100) {
            var cut = e.path.lastIndexOf("/", 155);
            while (cut > 0 && enc.encode(e.path.slice(cut + 1)).length > 100) { cut = e.path.lastIndexOf("/", cut - 1); }
            if (cut <= 0) { throw new Error(e.path + ": the path is too long"); }
            prefix = e.path.slice(0, cut); base = e.path.slice(cut + 1);
          }
          var h = new Uint8Array(512);
          put(h, 0, 100, base); put(h, 100, 8, "0000644"); put(h, 108, 8, "0000000"); put(h, 116, 8, "0000000");
          put(h, 124, 12, octal(e.bytes.length, 11)); put(h, 136, 12, octal(0, 11));
          for (var i = 148; i < 156; i++) { h[i] = 32; }
          h[156] = 48; put(h, 257, 6, "ustar"); put(h, 263, 2, "00"); put(h, 345, 155, prefix);
          var sum = 0; for (var j = 0; j < 512; j++) { sum += h[j]; }
          put(h, 148, 8, octal(sum, 6) + "\\u0000 ");
          chunks.push(h, e.bytes, new Uint8Array((512 - e.bytes.length % 512) % 512));
        });
        chunks.push(new Uint8Array(1024));
        chunks.forEach(function (c) { size += c.length; });
        var out = new Uint8Array(size), at = 0;
        chunks.forEach(function (c) { out.set(c, at); at += c.length; });
        return out;
      }
    })();
    """
}
