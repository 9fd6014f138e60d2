/* The patient page's charts: uPlot panels on one time axis with a synced cursor.
 *
 * The data is the page's <script type="application/json" id="chart-data"> block
 * (the same as /patients/{id}/chart.json), shaped on the server (clinician_ui/charts.py):
 * every number drawn here is also in the table under its chart. Null values are gaps,
 * never bridged. No inline script (CSP): this file runs deferred, after uPlot.
 * window.hvCharts holds the uPlot instances (the browser tests read their data).
 * When every chart has drawn once, <html> gets data-charts-drawn and the performance
 * mark "hv-charts-drawn" is set: bench/ui.py times navigation to it (issue 12).
 */
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof uPlot === "undefined") return;
  var data = JSON.parse(source.textContent);
  var L = data.labels;
  var zone = data.zone;
  var locale = data.lang === "ja" ? "ja-JP" : "en-GB";
  var ratio = uPlot.pxRatio;
  var COLOURS = { morning: "#0b5cad", evening: "#b3261e", other: "#5f6368", line: "#202124", band: "rgba(46,125,50,0.12)" };
  var dayFormat = new Intl.DateTimeFormat(locale, { timeZone: zone, month: "numeric", day: "numeric", weekday: "short" });
  var fullFormat = new Intl.DateTimeFormat(locale, {
    timeZone: zone, year: "numeric", month: "short", day: "numeric", weekday: "short",
    hour: data.detail === "readings" ? "2-digit" : undefined,
    minute: data.detail === "readings" ? "2-digit" : undefined
  });
  var DAY = 86400;
  var DAY_STEPS = [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY, 56 * DAY, 91 * DAY];  // ticks on local midnights
  var charts = {};
  window.hvCharts = charts;
  /* uPlot draws in a microtask after its constructor and fires "ready" once, after its
     first draw: the signal waits for every chart's. */
  var undrawn = 0, created = false;

  function signalDrawn() {
    var root = document.documentElement;
    if (!created || undrawn > 0 || root.hasAttribute("data-charts-drawn")) return;
    if (window.performance && performance.mark) performance.mark("hv-charts-drawn");
    root.setAttribute("data-charts-drawn", "");
  }

  function ready() {
    undrawn -= 1;
    signalDrawn();
  }

  function when(seconds) { return new Date(seconds * 1000); }

  /* A vertical mark from the low series (null: from zero) to this one at each x: a range
     bar (daily min-max) when `bar`, else a line with caps (one reading's diastolic..systolic). */
  function rangePaths(lowIndex, bar) {
    return function (u, seriesIndex, first, last) {
      var path = new Path2D();
      var xs = u.data[0], high = u.data[seriesIndex];
      var low = lowIndex === null ? high.map(function () { return 0; }) : u.data[lowIndex];
      var half = (bar ? 4 : 3) * ratio;
      for (var i = first; i <= last; i++) {
        if (high[i] == null || low[i] == null) continue;
        var x = Math.round(u.valToPos(xs[i], "x", true)) - (lowIndex === null ? 4 * ratio : 0);
        var top = Math.round(u.valToPos(high[i], "y", true));
        var bottom = Math.round(u.valToPos(low[i], "y", true));
        if (bar) {
          path.rect(x - half, top, 2 * half, Math.max(bottom - top, ratio));
        } else {
          path.moveTo(x, bottom); path.lineTo(x, top);
          path.moveTo(x - half, top); path.lineTo(x + half, top);
          path.moveTo(x - half, bottom); path.lineTo(x + half, bottom);
        }
      }
      return bar ? { stroke: path, fill: path } : { stroke: path };
    };
  }

  function noPath() { return null; }

  /* Threshold lines (dashed, labelled) and an optional shaded band, under the series. */
  function guides(lines, band) {
    return function (u) {
      var ctx = u.ctx, left = u.bbox.left, width = u.bbox.width;
      ctx.save();
      if (band) {
        var top = u.valToPos(band[1], "y", true), bottom = u.valToPos(band[0], "y", true);
        ctx.fillStyle = COLOURS.band;
        ctx.fillRect(left, top, width, bottom - top);
      }
      ctx.strokeStyle = COLOURS.line;
      ctx.fillStyle = COLOURS.line;
      ctx.lineWidth = ratio;
      ctx.setLineDash([6 * ratio, 4 * ratio]);
      ctx.font = (12 * ratio) + "px sans-serif";
      lines.forEach(function (line) {
        var y = Math.round(u.valToPos(line[0], "y", true)) + 0.5;
        ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + width, y); ctx.stroke();
        ctx.fillText(line[1], left + 4 * ratio, y - 3 * ratio);
      });
      ctx.restore();
    };
  }

  /* A ⚠ above each flagged reading (shape and text, not colour alone), and the flags of
     the reading under the cursor in the line below the chart (the table has them all). */
  function flagged(key, panel) {
    var texts = panel.flags || [];
    var line = document.getElementById("flags-" + key);
    return {
      draw: function (u) {
        var ctx = u.ctx;
        ctx.save();
        ctx.fillStyle = "#8a1c00";
        ctx.font = (14 * ratio) + "px sans-serif";
        ctx.textAlign = "center";
        texts.forEach(function (text, i) {
          if (!text) return;
          var top = null;
          for (var s = 1; s < u.data.length; s++) {
            var v = u.data[s][i];
            if (v != null && (top === null || v > top)) top = v;
          }
          if (top === null) return;
          ctx.fillText("⚠", u.valToPos(u.data[0][i], "x", true), u.valToPos(top, "y", true) - 8 * ratio);
        });
        ctx.restore();
      },
      setCursor: function (u) {
        if (line) line.textContent = u.cursor.idx == null ? "" : (texts[u.cursor.idx] || "");
      }
    };
  }

  /* The alerts that opened in the period (alertsui): a dashed line at each opening time
     with a "!" in a box at the top (shape, not colour alone); the alert's words under the
     chart when the cursor is near it. The patient page's alert block lists them as text. */
  function alertMarks(key) {
    var marks = (data.alerts || {})[key] || [];
    var box = document.getElementById("chart-" + key);
    if (!marks.length || !box) return null;
    var line = document.createElement("p");
    line.className = "hover-alerts";
    line.id = "alert-marks-" + key;
    line.setAttribute("aria-hidden", "true");
    box.parentNode.insertBefore(line, box.nextSibling);
    return {
      marks: marks,
      draw: function (u) {
        var ctx = u.ctx, top = u.bbox.top, bottom = u.bbox.top + u.bbox.height;
        ctx.save();
        ctx.strokeStyle = "#a30000";
        ctx.fillStyle = "#a30000";
        ctx.lineWidth = 2 * ratio;
        ctx.font = "bold " + (13 * ratio) + "px sans-serif";
        ctx.textAlign = "center";
        marks.forEach(function (mark) {
          var x = u.valToPos(mark[0], "x", true);
          ctx.setLineDash([6 * ratio, 4 * ratio]);
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, bottom);
          ctx.stroke();
          ctx.setLineDash([]);
          ctx.fillRect(x - 8 * ratio, top, 16 * ratio, 16 * ratio);
          ctx.fillStyle = "#fff";
          ctx.fillText("!", x, top + 13 * ratio);
          ctx.fillStyle = "#a30000";
        });
        ctx.restore();
      },
      setCursor: function (u) {
        var left = u.cursor.left, near = [];
        if (left != null && left >= 0) {
          marks.forEach(function (mark) {
            if (Math.abs(u.valToPos(mark[0], "x") - left) <= 12) near.push(mark[1]);
          });
        }
        line.textContent = near.join(" · ");
      }
    };
  }

  /* The index of the newest x with any value: what the legend shows when nothing is
     hovered (uPlot's default is "--", which told a doctor nothing). */
  function newestIndex(u) {
    for (var i = u.data[0].length - 1; i >= 0; i--) {
      for (var s = 1; s < u.data.length; s++) if (u.data[s][i] != null) return i;
    }
    return null;
  }

  function legendAtNewest(u) {
    if (u.legend.idx == null) {
      var newest = newestIndex(u);
      if (newest != null) u.setLegend({ idx: newest }, false);
    }
  }

  function yRange(floor, ceiling) {
    return function (u, min, max) {
      return [Math.min(min == null ? floor : min, floor) - 5, Math.max(max == null ? ceiling : max, ceiling) + 5];
    };
  }

  function axes(unit) {
    return [
      {
        values: function (u, splits) { return splits.map(function (s) { return dayFormat.format(when(s)); }); },
        incrs: DAY_STEPS,
        space: 80
      },
      { label: unit, size: 50 }
    ];
  }

  function draw(key, series, values, unit, range, drawHook, marks) {
    var box = document.getElementById("chart-" + key);
    if (!box) return;
    var options = {
      width: Math.max(box.clientWidth, 300),
      height: 200,
      // Room on the right for the last day's label, which is centred on the plot's edge.
      padding: [null, 28, null, null],
      tzDate: function (ts) { return uPlot.tzDate(when(ts), zone); },
      cursor: { sync: { key: "hv-patient", setSeries: false }, points: { size: 8 } },
      scales: {
        x: { time: true, range: function () { return [data.start, data.end]; } },
        y: { range: range }
      },
      axes: axes(unit),
      series: [{ label: L.date || "", value: function (u, v) { return v == null ? "—" : fullFormat.format(when(v)); } }].concat(series),
      hooks: {
        drawClear: drawHook ? [drawHook] : [],
        draw: marks ? [marks.draw] : [],
        setCursor: marks ? [marks.setCursor] : [],
        ready: [legendAtNewest, ready],
        setLegend: [legendAtNewest]
      }
    };
    var alerted = alertMarks(key);
    if (alerted) {
      options.hooks.draw.push(alerted.draw);
      options.hooks.setCursor.push(alerted.setCursor);
    }
    undrawn += 1;
    charts[key] = new uPlot(options, values, box);
    charts[key].alertMarks = alerted ? alerted.marks : [];
  }

  function point(label, colour, hollow, extra) {
    var s = {
      label: label, stroke: colour, width: 2, paths: noPath,
      points: { show: true, size: 8, stroke: colour, fill: hollow ? "#fff" : colour, width: 2 }
    };
    for (var name in extra || {}) s[name] = extra[name];
    return s;
  }

  function meanLine(label, colour) {
    return { label: label, stroke: colour, width: 2, spanGaps: false, points: { show: true, size: 6, fill: colour } };
  }

  function rangeBar(label, colour, lowIndex) {
    return { label: label, stroke: colour, fill: colour + "55", width: 1, paths: rangePaths(lowIndex, true), points: { show: false } };
  }

  function hidden(label) {
    return { label: label, paths: noPath, points: { show: false }, stroke: "transparent" };
  }

  var t = data.thresholds;
  var bpGuides = guides(
    [[t.systolic, L.home_line + " " + t.systolic], [t.diastolic, L.home_line + " " + t.diastolic]],
    [t.target_diastolic || t.diastolic, t.target_systolic || t.systolic]
  );

  if (data.detail === "readings") {
    var bp = data.bp, s = bp.series;
    var bpSeries = [], bpValues = [bp.x];
    ["morning", "evening", "other"].forEach(function (occasion) {
      var index = bpValues.length;
      bpValues.push(s[occasion + "_sys"], s[occasion + "_dia"]);
      var colour = COLOURS[occasion], hollow = occasion === "evening";
      bpSeries.push(point(L[occasion] + " " + L.systolic, colour, hollow, { paths: rangePaths(index + 1, false) }));
      bpSeries.push(point(L[occasion] + " " + L.diastolic, colour, hollow));
    });
    draw("bp", bpSeries, bpValues, L.mmhg, yRange(60, 160), bpGuides, flagged("bp", bp));
    draw("pulse", [point(L.pulse, COLOURS.morning, false)], [data.pulse.x, data.pulse.series.value], L.per_min,
      yRange(t.pulse_low, t.pulse_high), guides([[t.pulse_low, L.low + " " + t.pulse_low], [t.pulse_high, L.high + " " + t.pulse_high]]),
      flagged("pulse", data.pulse));
    draw("spo2", [point(L.spo2, COLOURS.morning, false)], [data.spo2.x, data.spo2.series.value], L.percent,
      yRange(t.spo2_low - 2, 100), guides([[t.spo2_low, L.low + " " + t.spo2_low]]), flagged("spo2", data.spo2));
  } else {
    var d = data.bp.series;
    draw("bp", [
      hidden(L.systolic + " " + L.minimum), rangeBar(L.systolic + " " + L.range, COLOURS.evening, 1), meanLine(L.systolic + " " + L.mean, COLOURS.evening),
      hidden(L.diastolic + " " + L.minimum), rangeBar(L.diastolic + " " + L.range, COLOURS.morning, 4), meanLine(L.diastolic + " " + L.mean, COLOURS.morning)
    ], [data.days, d.sys_min, d.sys_max, d.sys_mean, d.dia_min, d.dia_max, d.dia_mean], L.mmhg, yRange(60, 160), bpGuides);
    [["pulse", L.pulse, L.per_min, yRange(t.pulse_low, t.pulse_high), [[t.pulse_low, L.low + " " + t.pulse_low], [t.pulse_high, L.high + " " + t.pulse_high]]],
     ["spo2", L.spo2, L.percent, yRange(t.spo2_low - 2, 100), [[t.spo2_low, L.low + " " + t.spo2_low]]]].forEach(function (p) {
      var v = data[p[0]].series;
      draw(p[0], [hidden(p[1] + " " + L.minimum), rangeBar(p[1] + " " + L.range, COLOURS.morning, 1), meanLine(p[1] + " " + L.mean, COLOURS.line)],
        [data.days, v.min, v.max, v.mean], p[2], p[3], guides(p[4]));
    });
  }
  var sl = data.sleep.series;
  /* Stages stacked (deep, light, REM from the bottom) right of the time-asleep bar; a
     night without stages has only the time-asleep bar. The legend shows each stage's own
     minutes; the path draws it on top of the stages below it. */
  function stackPaths(stage) {
    return function (u, seriesIndex, first, last) {
      var path = new Path2D(), xs = u.data[0], half = 3 * ratio;
      for (var i = first; i <= last; i++) {
        var value = u.data[seriesIndex][i];
        if (value == null) continue;
        var below = 0;
        for (var s = 3; s < 3 + stage; s++) below += u.data[s][i] || 0;
        var x = Math.round(u.valToPos(xs[i], "x", true)) + 5 * ratio;
        var top = Math.round(u.valToPos(below + value, "y", true));
        var bottom = Math.round(u.valToPos(below, "y", true));
        path.rect(x - half, top, 2 * half, Math.max(bottom - top, ratio));
      }
      return { stroke: path, fill: path };
    };
  }
  function stage(label, colour, index) {
    return { label: label, stroke: colour, fill: colour, width: 1, paths: stackPaths(index), points: { show: false } };
  }
  /* Time in bed as an outlined bar, time asleep filled inside it: the gap between them
     is the time awake in bed. */
  var inBed = { label: L.in_bed, stroke: COLOURS.line, width: 2, paths: rangePaths(null, true), points: { show: false } };
  draw("sleep", [
    inBed, rangeBar(L.asleep, COLOURS.morning, null),
    stage(L.deep, "#1b3a5c", 0), stage(L.light, "#7fb2e5", 1), stage(L.rem, "#b07cc6", 2)
  ], [data.days, sl.in_bed, sl.asleep, sl.deep, sl.light, sl.rem], L.minutes, yRange(0, 480));

  /* Each night's heart and breathing rate in bed: min-max bars with the mean, over the
     last 7 days of the period only (its own x: the page sends no year of nulls). */
  var nv = data.sleep_vitals.series;
  draw("sleep_vitals", [
    hidden(L.heart_rate + " " + L.minimum), rangeBar(L.heart_rate + " " + L.range, COLOURS.evening, 1), meanLine(L.heart_rate + " " + L.mean, COLOURS.evening),
    hidden(L.respiration + " " + L.minimum), rangeBar(L.respiration + " " + L.range, COLOURS.morning, 4), meanLine(L.respiration + " " + L.mean, COLOURS.morning)
  ], [data.sleep_vitals.x || data.days, nv.hr_min, nv.hr_max, nv.hr_mean, nv.rr_min, nv.rr_max, nv.rr_mean], L.per_min, yRange(10, 80));
  created = true;  // every chart is made: the signal waits for their first draws
  signalDrawn();

  /* The adherence strip: a square per day (■ readings, □ none: shape, not colour alone),
     its date and state as its title (hover) and as hidden text (screen readers), and a
     visible short date under every 7th square counted back from the last day. */
  (function strip() {
    var list = document.getElementById("strip");
    if (!list || typeof data.adherence !== "string") return;
    var longDate = new Intl.DateTimeFormat(locale, { timeZone: zone, year: "numeric", month: "long", day: "numeric", weekday: "short" });
    var shortDate = new Intl.DateTimeFormat(locale, { timeZone: zone, month: "numeric", day: "numeric" });
    var n = data.days.length;
    data.days.forEach(function (x, i) {
      var measured = data.adherence.charAt(i) === "1";
      var text = longDate.format(when(x)) + ": " + (measured ? list.dataset.with : list.dataset.without);
      var item = document.createElement("li");
      item.className = measured ? "yes" : "no";
      item.title = text;
      var mark = document.createElement("span");
      mark.setAttribute("aria-hidden", "true");
      mark.textContent = measured ? "■" : "□";
      var hidden = document.createElement("span");
      hidden.className = "visually-hidden";
      hidden.textContent = text;
      item.appendChild(mark);
      item.appendChild(hidden);
      if ((n - 1 - i) % 7 === 0) {
        var day = document.createElement("span");
        day.className = "day";
        day.setAttribute("aria-hidden", "true");
        day.textContent = shortDate.format(when(x));
        item.appendChild(day);
      }
      list.appendChild(item);
    });
  }());

  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (key) {
      var box = document.getElementById("chart-" + key);
      charts[key].setSize({ width: Math.max(box.clientWidth, 300), height: 200 });
    });
  });
}());
