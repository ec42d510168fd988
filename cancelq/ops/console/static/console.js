// The console's only script: live progress (a job's state, a campaign's counters).
// Every action works without it: forms post as they are, and the server asks before what cannot be undone.
(function () {
  "use strict";
  function poll(url, apply, stop) {
    function tick() {
      fetch(url, {credentials: "same-origin", cache: "no-store"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data) { apply(data); } if (!data || !stop(data)) { setTimeout(tick, 2000); } })
        .catch(function () { setTimeout(tick, 3000); });
    }
    tick();
  }
  var state = document.getElementById("cq-job-state");
  if (state && state.dataset.final !== "yes") {
    poll(state.dataset.stateUrl, function (d) { state.textContent = d.state; state.dataset.final = d.final ? "yes" : "no"; },
         function (d) { return d.final; });
  }
  document.querySelectorAll("[data-progress-url]").forEach(function (row) {
    if (row.dataset.status === "finished" || row.dataset.status === "aborted") { return; }
    poll(row.dataset.progressUrl, function (d) {
      var bar = row.querySelector(".cq-progress");
      if (bar) { bar.max = Math.max(d.total, 1); bar.value = d.done; }
      var set = function (cls, text) { var el = row.querySelector(cls); if (el) { el.textContent = text; } };
      set(".cq-done", d.done + "/" + d.total);
      set(".cq-rate", d.rate_per_s.toFixed(1));
      set(".cq-eta", d.eta_s === null ? "" : Math.round(d.eta_s) + "s");
      set(".cq-status", d.status);
    }, function (d) { return d.status === "finished" || d.status === "aborted"; });
  });
})();
