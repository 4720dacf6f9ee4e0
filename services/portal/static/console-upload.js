/* Unggah (issue 21): sends the chosen CSV or XLSX file with fetch() to the portal's streaming route
   (form#upload-form[data-stream-url]) and shows enrollment's per-row results as they arrive: a
   progress bar (rows done of the rows the browser counted in the CSV; indeterminate for a roster
   workbook until the summary), accepted/rejected counters, the rejected rows with their column and
   reason, and "Unduh baris yang ditolak": the CSV's original rows + an `alasan` column (for XLSX the
   results' row, NIP, column and reason). The page never waits on the upload: the answer is read
   chunk by chunk. Without this script the form posts and the summary page answers. */
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.fetch || !window.TextDecoder || !window.URLSearchParams || !window.Blob) {
    return;
  }
  var XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
  var NIP_HEADERS = ["nip", "nip_baru", "nipbaru", "nip_pppk", "ni_pppk", "nomor_induk_pegawai"];
  var TABLE_CAP = 2000; // rows shown in the table; every rejected row is in the download
  var OUTCOMES = {created: "didaftarkan", reactivated: "didaftarkan kembali", unchanged: "tidak berubah",
                  completed: "dicatat selesai", added: "ditambahkan", updated: "diperbarui"};

  function $(id) { return document.getElementById(id); }
  var live = $("upload-live"), bar = $("upload-progress"), fill = $("upload-progress-bar"),
      statusLine = $("upload-status"), accepted = $("accepted-count"), rejected = $("rejected-count"),
      doneCount = $("done-count"), totalCount = $("total-count"), errorLine = $("upload-error"),
      summaryBox = $("upload-summary"), download = $("download-rejected"), note = $("download-note"),
      rows = $("rejected-rows"), button = $("upload-button"), fileInput = $("upload-file");
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var state = null;

  // -- the form: the fields of the kind chosen ---------------------------------------------------
  function kind() {
    var checked = form.querySelector("input[name=jenis]:checked");
    return checked ? checked.value : "";
  }
  function showFields() {
    var roster = kind() === "daftar-asn";
    $("programme-field").hidden = roster;
    $("roster-options").hidden = !roster;
  }
  form.addEventListener("change", showFields);
  showFields();

  // -- the CSV in the browser: its rows with the line each starts on (enrollment's row numbers) ---
  function delimiterOf(line) {
    var best = ",", count = 0;
    [";", ",", "\t"].forEach(function (d) {
      var n = line.split(d).length - 1;
      if (n > count) { best = d; count = n; }
    });
    return best;
  }

  function parseCsv(text, delimiter) {
    var records = [], i = 0, line = 1, n = text.length;
    while (i < n) {
      var start = i, startLine = line, cells = [], cell = "", inQuotes = false, fresh = true;
      while (i < n) {
        var ch = text.charAt(i);
        if (inQuotes) {
          if (ch === "\"") {
            if (text.charAt(i + 1) === "\"") { cell += "\""; i += 2; continue; }
            inQuotes = false; i += 1; continue;
          }
          if (ch === "\n") { line += 1; }
          cell += ch; i += 1; continue;
        }
        if (ch === "\"" && fresh) { inQuotes = true; fresh = false; i += 1; continue; }
        if (ch === delimiter) { cells.push(cell); cell = ""; fresh = true; i += 1; continue; }
        if (ch === "\r" || ch === "\n") { break; }
        cell += ch; fresh = false; i += 1;
      }
      cells.push(cell);
      var end = i;
      if (text.charAt(i) === "\r") { i += 1; }
      if (text.charAt(i) === "\n") { i += 1; }
      line += 1;
      records.push({line: startLine, raw: text.slice(start, end), cells: cells});
    }
    return records;
  }

  function blank(record) {
    return record.cells.every(function (c) { return c.trim() === ""; });
  }

  function headerKey(cell) {
    return cell.trim().toLowerCase().replace(/[^0-9a-z]+/g, "_").replace(/^_+|_+$/g, "");
  }

  /* {header, delimiter, byLine: {line: raw}, total} of a CSV: the header is the first line (the
     roster import: the first of ten rows naming a NIP column), the data rows the non-blank ones after it. */
  function readSource(text, roster) {
    if (text.charCodeAt(0) === 0xFEFF) { text = text.slice(1); }
    var lines = text.split("\n", 10), firstWithDelimiter = lines[0];
    if (roster) {
      for (var k = 0; k < lines.length; k += 1) {
        if (/[;,\t]/.test(lines[k])) { firstWithDelimiter = lines[k]; break; }
      }
    }
    var delimiter = delimiterOf(firstWithDelimiter);
    var records = parseCsv(text, delimiter), headerIndex = 0;
    if (roster) {
      headerIndex = -1;
      for (var j = 0; j < Math.min(records.length, 10); j += 1) {
        if (records[j].cells.some(function (c) { return NIP_HEADERS.indexOf(headerKey(c)) >= 0; })) {
          headerIndex = j; break;
        }
      }
      if (headerIndex < 0) { headerIndex = 0; }
    }
    var byLine = {}, total = 0;
    for (var r = headerIndex + 1; r < records.length; r += 1) {
      if (blank(records[r])) { continue; }
      byLine[records[r].line] = records[r].raw;
      total += 1;
    }
    return {header: records.length ? records[headerIndex].raw : "", delimiter: delimiter, byLine: byLine,
            total: total};
  }

  // -- the page as the results come in -------------------------------------------------------------
  function reset() {
    state = {total: null, done: 0, accepted: 0, rejected: 0, rejectedRows: [], shown: 0, source: null,
             finished: false, outcomes: {}, lastStatus: 0};
    live.hidden = false;
    errorLine.hidden = true;
    errorLine.textContent = "";
    summaryBox.hidden = true;
    summaryBox.textContent = "";
    summaryBox.setAttribute("data-done", "false");
    download.hidden = true;
    note.hidden = true;
    if (download.href && download.href.indexOf("blob:") === 0) { URL.revokeObjectURL(download.href); }
    download.setAttribute("href", "#");
    while (rows.firstChild) { rows.removeChild(rows.firstChild); }
    render(true);
  }

  function render(force) {
    accepted.textContent = state.accepted;
    rejected.textContent = state.rejected;
    doneCount.textContent = state.done;
    totalCount.textContent = state.total === null ? "?" : state.total;
    bar.setAttribute("aria-valuenow", String(state.done));
    if (state.total === null) {
      bar.removeAttribute("aria-valuemax");
      bar.setAttribute("aria-valuetext", state.done + " baris diproses");
      bar.classList.toggle("indeterminate", !state.finished);
      fill.style.width = state.finished ? "100%" : "";
    } else {
      var max = Math.max(state.total, state.done);
      bar.setAttribute("aria-valuemax", String(max));
      bar.setAttribute("aria-valuetext", state.done + " dari " + max + " baris");
      bar.classList.remove("indeterminate");
      fill.style.width = (max ? Math.round(100 * state.done / max) : 100) + "%";
    }
    var fragment = document.createDocumentFragment();
    while (state.shown < state.rejectedRows.length && state.shown < TABLE_CAP) {
      var item = state.rejectedRows[state.shown], tr = document.createElement("tr");
      tr.setAttribute("data-row", String(item.row || ""));
      tr.setAttribute("data-nip", item.nip || "");
      tr.setAttribute("data-column", item.field || "");
      [String(item.row || "-"), item.nip || "-", item.kolom || "-", item.alasan || item.reason || "-"]
        .forEach(function (text, index) {
          var td = document.createElement("td");
          if (index === 0) { td.className = "n"; }
          td.textContent = text;
          tr.appendChild(td);
        });
      fragment.appendChild(tr);
      state.shown += 1;
    }
    rows.appendChild(fragment);
    var now = Date.now();
    if (!state.finished && (force || now - state.lastStatus > 1000)) {  // a screen reader hears it once a second
      state.lastStatus = now;
      statusLine.textContent = state.done ? "Memproses… " + state.done + (state.total === null ? "" :
        " dari " + state.total) + " baris." : "Mengirim berkas…";
    }
  }

  function handle(line) {
    if (!line.trim()) { return; }
    var item;
    try { item = JSON.parse(line); } catch (e) { return; }
    if (item.total !== undefined && item.row === undefined) {
      state.total = item.total;
    } else if (item.summary) {
      finish(item.summary);
    } else if (item.error) {
      fail(item.pesan || "Unggahan terhenti sebelum selesai.");
    } else {
      state.done += 1;
      if (item.accepted) {
        state.accepted += 1;
        state.outcomes[item.outcome] = (state.outcomes[item.outcome] || 0) + 1;
      } else {
        state.rejected += 1;
        state.rejectedRows.push(item);
      }
    }
  }

  function finish(summary) {
    state.finished = true;
    if (state.total === null || summary.rows !== undefined) { state.total = summary.rows; }
    state.done = summary.rows !== undefined ? summary.rows : state.done;
    render(true);
    var parts = [];
    Object.keys(OUTCOMES).forEach(function (key) {
      if (summary[key]) { parts.push(summary[key] + " " + OUTCOMES[key]); }
    });
    summaryBox.textContent = "Selesai: " + summary.rows + " baris, " + summary.accepted + " diterima" +
      (parts.length ? " (" + parts.join(", ") + ")" : "") + ", " + summary.rejected + " ditolak." +
      (state.rejectedRows.length > TABLE_CAP ? " Tabel menampilkan " + TABLE_CAP +
        " baris pertama yang ditolak; semuanya ada di berkas unduhan." : "");
    summaryBox.setAttribute("data-accepted", String(summary.accepted));
    summaryBox.setAttribute("data-rejected", String(summary.rejected));
    summaryBox.setAttribute("data-done", "true");
    summaryBox.hidden = false;
    statusLine.textContent = "Unggahan selesai: " + summary.accepted + " diterima, " + summary.rejected + " ditolak.";
    if (summary.pesan) { fail(summary.pesan); }
    if (state.rejectedRows.length) { offerRejected(); }
  }

  function fail(message) {
    errorLine.textContent = message;
    errorLine.hidden = false;
  }

  // -- "Unduh baris yang ditolak" ------------------------------------------------------------------
  function quoted(text) {
    return "\"" + String(text).replace(/"/g, "\"\"") + "\"";
  }

  function offerRejected() {
    var lines = [], source = state.source;
    if (source) {  // the CSV's own rows, so the operator fixes them in place and uploads them again
      lines.push(source.header + source.delimiter + "alasan");
      state.rejectedRows.forEach(function (item) {
        var raw = source.byLine[item.row];
        var reason = (item.kolom ? "kolom " + item.kolom + ": " : "") + (item.alasan || item.reason || "");
        if (raw === undefined) { raw = item.nip || ""; }
        lines.push(raw + source.delimiter + quoted(reason));
      });
      note.textContent = "Berkas unduhan memuat baris asli yang ditolak dengan kolom tambahan alasan. Perbaiki " +
        "barisnya, lalu unggah berkas itu lagi (kolom alasan diabaikan).";
    } else {  // a workbook: the browser cannot read it back, so the results' own values
      lines.push("baris,nip,kolom,alasan");
      state.rejectedRows.forEach(function (item) {
        lines.push([item.row, item.nip || "", item.kolom || "", item.alasan || item.reason || ""]
          .map(quoted).join(","));
      });
      note.textContent = "Berkas XLSX tidak dapat dibuka kembali di peramban, jadi unduhan memuat nomor baris, NIP, " +
        "kolom dan alasan penolakan. Perbaiki baris-baris itu di berkas XLSX Anda, lalu unggah lagi.";
    }
    var blob = new Blob(["\uFEFF" + lines.join("\r\n") + "\r\n"], {type: "text/csv;charset=utf-8"});
    download.href = URL.createObjectURL(blob);
    download.setAttribute("data-rows", String(state.rejectedRows.length));
    download.hidden = false;
    note.hidden = false;
  }

  // -- sending ------------------------------------------------------------------------------------
  function refusal(response) {
    var fallback = {401: "Sesi Anda telah berakhir. Masuk kembali lalu unggah lagi.",
                    403: "Permintaan ditolak. Muat ulang halaman lalu coba lagi.",
                    413: "Berkas melebihi batas unggahan " + form.getAttribute("data-max-text") + ".",
                    429: "Terlalu banyak permintaan; coba lagi sebentar lagi."}[response.status] ||
                   "Unggahan gagal (status " + response.status + "). Coba lagi sebentar lagi.";
    var type = response.headers.get("Content-Type") || "";
    if (type.indexOf("application/json") !== 0) { return Promise.resolve(fallback); }
    return response.json().then(function (body) { return body.pesan || fallback; }, function () { return fallback; });
  }

  function query() {
    var params = new URLSearchParams();
    params.set("jenis", kind());
    ["program", "mode", "kode_opd"].forEach(function (name) {
      var field = form.querySelector("[name=" + name + "]:not([type=radio]), [name=" + name + "]:checked");
      if (field && field.value) { params.set(name, field.value); }
    });
    if ($("upload-confirm").checked) { params.set("konfirmasi", "ya"); }
    return params.toString();
  }

  async function send(file) {
    reset();
    if (file.size > Number(form.getAttribute("data-max-bytes"))) {
      fail("Berkas melebihi batas unggahan " + form.getAttribute("data-max-text") + ". Pecah berkasnya lalu unggah " +
           "bagian demi bagian.");
      return;
    }
    var xlsx = /\.xlsx$/i.test(file.name) || file.type === XLSX_TYPE;
    if (!xlsx) {
      state.source = readSource(await file.text(), kind() === "daftar-asn");
      state.total = state.source.total;
    }
    render(true);
    var response = await fetch(form.getAttribute("data-stream-url") + "?" + query(), {
      method: "POST", body: file, credentials: "same-origin",
      headers: {"X-CSRF-Token": csrf, "X-File-Name": encodeURIComponent(file.name),
                "Content-Type": file.type || (xlsx ? XLSX_TYPE : "text/csv")}
    });
    if (!response.ok) {
      fail(await refusal(response));
      statusLine.textContent = "Unggahan ditolak.";
      return;
    }
    var reader = response.body.getReader(), decoder = new TextDecoder("utf-8"), pending = "";
    for (;;) {
      var part = await reader.read();
      if (part.done) { break; }
      pending += decoder.decode(part.value, {stream: true});
      var lines = pending.split("\n");
      pending = lines.pop();
      lines.forEach(handle);
      render(false);
    }
    pending += decoder.decode();
    handle(pending);
    render(true);
    if (!state.finished) {
      fail("Hubungan terputus sebelum semua baris selesai; baris yang sudah diterima tetap tersimpan. Unggah " +
           "berkas yang sama sekali lagi untuk menyelesaikannya.");
    }
  }

  form.addEventListener("submit", function (event) {
    var file = fileInput.files && fileInput.files[0];
    if (!file) { return; }  // the browser says the file is required
    event.preventDefault();
    button.disabled = true;
    send(file).catch(function (error) {
      fail("Unggahan terhenti: " + (error && error.message ? error.message : error) + ". Periksa sambungan lalu " +
           "coba lagi.");
    }).then(function () {
      button.disabled = false;
      live.focus();
    });
  });
}());
