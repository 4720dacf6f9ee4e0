/* The programme form of the operator console: a live JP preview while the admin types (the
   portal's GET /operator/program/jp asks enrollment, whose JP rules a programme gets), and the
   speakers (narasumber) field shown only for the kinds that have speakers. Progressive: without
   this script the form works as it is and the JP is shown after saving. */
(function () {
  "use strict";
  var form = document.getElementById("programme-form");
  var output = document.getElementById("jp-preview");
  if (!form || !output || !window.fetch) { return; }
  var fields = { jenis: "field-jenis", mulai: "field-mulai", selesai: "field-selesai",
                 durasi_menit: "field-durasi_menit", durasi_hari: "field-durasi_hari", jp: "field-jp" };
  var timer = null;
  var latest = 0;

  function value(id) {
    var element = document.getElementById(id);
    return element ? element.value.trim() : "";
  }

  function preview() {
    var query = [];
    Object.keys(fields).forEach(function (name) {
      var v = value(fields[name]);
      if (v) { query.push(encodeURIComponent(name) + "=" + encodeURIComponent(v)); }
    });
    var asked = ++latest;
    fetch(output.getAttribute("data-url") + "?" + query.join("&"),
          { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (body) {
        if (asked !== latest || !body) { return; }  // an older answer arriving late is ignored
        output.textContent = body.text;
        output.setAttribute("data-jp", body.jp === null ? "" : String(body.jp));
      })
      .catch(function () { /* the preview is a help; the saved programme shows its JP */ });
  }

  function later() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(preview, 250);
  }

  var speakers = document.getElementById("speakers-field");
  function showSpeakers() {
    if (!speakers) { return; }
    var kinds = (speakers.getAttribute("data-kinds") || "").split(" ");
    var kind = value("field-jenis");
    var textarea = document.getElementById("field-narasumber");
    // a speaker typed for another kind stays visible so the API's refusal can be read and fixed
    speakers.hidden = kind !== "" && kinds.indexOf(kind) < 0 && !(textarea && textarea.value.trim());
  }

  Object.keys(fields).forEach(function (name) {
    var element = document.getElementById(fields[name]);
    if (element) {
      element.addEventListener("input", later);
      element.addEventListener("change", later);
    }
  });
  var kind = document.getElementById("field-jenis");
  if (kind) { kind.addEventListener("change", showSpeakers); }
  showSpeakers();
  preview();
}());
