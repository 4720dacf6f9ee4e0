/* The checkpoint page's progress (templates/admin_checkpoint.html): while the chosen checkpoint is
   queued or running, ask the portal for its job every 1.5 s (section#checkpoint-job[data-poll]) and
   update the status, the progress bar and the counts in place. Without JavaScript the page's
   "Perbarui" link does the same by reloading. No inline script: the CSP allows only this file. */
(function () {
  "use strict";
  var section = document.getElementById("checkpoint-job");
  if (!section || !window.fetch) { return; }
  var url = section.getAttribute("data-poll");
  var active = { queued: true, running: true };
  var number = new Intl.NumberFormat("id-ID");

  function set(id, text) {
    var el = document.getElementById(id);
    if (el) { el.textContent = text; }
  }

  function show(job) {
    section.setAttribute("data-status", job.status);
    set("job-status", job.status_text);
    var bar = document.getElementById("job-progress");
    if (bar && job.percent !== null && job.percent !== undefined) {
      bar.value = job.percent;
      bar.textContent = job.percent + "%";
    }
    set("job-percent", job.percent === null || job.percent === undefined ? "-" : String(job.percent));
    set("job-checked", number.format(job.checked || 0));
    set("job-total", job.total === null || job.total === undefined ? "-" : number.format(job.total));
    set("job-nudged", number.format(job.nudged || 0));
    set("job-escalated", number.format(job.escalated || 0));
    set("job-summaries", number.format(job.supervisor_summaries || 0));
    set("job-started", job.started || "-");
    set("job-finished", job.finished || "-");
    // the same checkpoint in the form's list and in the table of every checkpoint
    var id = section.getAttribute("data-checkpoint");
    var option = document.querySelector('#checkpoint-select option[value="' + id + '"]');
    if (option) {
      option.setAttribute("data-status", job.status);
      option.textContent = option.textContent.split(" \u2014 ")[0] + " \u2014 " + job.status_text;
    }
    var row = document.querySelector('#checkpoints tr[data-checkpoint="' + id + '"]');
    if (row && row.cells.length >= 5) {
      row.setAttribute("data-status", job.status);
      row.cells[1].textContent = job.status_text;
      row.cells[2].textContent = number.format(job.checked || 0);
      row.cells[3].textContent = number.format(job.nudged || 0);
      row.cells[4].textContent = job.finished || "-";
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (job) {
        if (!job) { return; }
        show(job);
        if (active[job.status]) { window.setTimeout(poll, 1500); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }

  if (active[section.getAttribute("data-status")]) { window.setTimeout(poll, 1000); }
}());
