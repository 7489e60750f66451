/* lstream report: draws the charts the page's data describes, with uPlot.
 *
 * Every chart is described in full by the Python side (x values, series,
 * colours, limits to mark); this script only draws them. After a chart is
 * drawn its container carries what it drew, for tests and for anyone
 * reading the DOM: data-series (series drawn), data-points (x values),
 * data-values (non-empty values per series, comma-separated) and data-marks
 * (limit lines drawn inside the plot). When every
 * chart is drawn, <body> gets data-charts-drawn with their number.
 */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("lstream-data").textContent);
  var charts = data.charts;
  var drawn = 0;

  function decimal(v, unit) {
    if (v == null) return "-";
    var a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(a >= 1e10 ? 0 : 1) + " G" + unit;
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + " M" + unit;
    if (a >= 1e3) return (v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + " k" + unit;
    return String(Math.round(v * 100) / 100) + (unit ? " " + unit : "");
  }

  function markLimits(u, spec, el) {
    var ctx = u.ctx;
    var shown = 0;
    (spec.marks || []).forEach(function (m, i) {
      var x = u.valToPos(m.x, "x", true);
      if (!(x >= u.bbox.left && x <= u.bbox.left + u.bbox.width)) return;
      shown += 1;
      ctx.save();
      ctx.strokeStyle = "#cf222e";
      ctx.setLineDash([4, 4]);
      ctx.lineWidth = 1.5 * devicePixelRatio;
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = "#cf222e";
      ctx.font = 11 * devicePixelRatio + "px system-ui, sans-serif";
      // Labels one under the other: two limits close on a log axis must not overlap.
      ctx.fillText(m.label, x + 4 * devicePixelRatio, u.bbox.top + (12 + 14 * i) * devicePixelRatio);
      ctx.restore();
    });
    el.dataset.marks = String(shown);
  }

  function record(u, el) {
    if (el.dataset.drawn) return;
    el.dataset.series = String(u.series.length - 1);
    el.dataset.points = String(u.data[0].length);
    el.dataset.values = u.data.slice(1).map(function (d) {
      return d.filter(function (v) { return v != null; }).length;
    }).join(",");
    el.dataset.drawn = "1";
    drawn += 1;
    if (drawn === charts.length) done();
  }

  function done() {
    document.body.dataset.chartsDrawn = String(drawn);
    // The page's full height, for a screenshot that holds all of it.
    document.body.dataset.pageHeight = String(document.documentElement.scrollHeight);
  }

  function xScale(spec) {
    if (!spec.xLog) return { time: false };
    // The measured sizes with a margin, not whole decades around them.
    var lo = Math.min.apply(null, spec.x), hi = Math.max.apply(null, spec.x);
    (spec.marks || []).forEach(function (m) { lo = Math.min(lo, m.x); hi = Math.max(hi, m.x); });
    return { time: false, distr: 3, range: function () { return [lo / 1.2, hi * 1.2]; } };
  }

  function draw(spec) {
    var el = document.getElementById(spec.id);
    var width = Math.max(360, Math.min(1200, (el.clientWidth || 1000)));
    var xFormat = spec.xFormat === "bytes"
      ? function (u, vals) { return vals.map(function (v) { return v == null ? "" : decimal(v, "B"); }); }
      : undefined;
    var yUnit = spec.yUnit || "";
    var series = [{ label: spec.xLabel }].concat(spec.series.map(function (s) {
      var one = {
        label: s.label,
        stroke: s.color,
        width: 1.5,
        dash: s.dash && s.dash.length ? s.dash : undefined,
        spanGaps: false,
        points: { show: !!spec.points, size: 6 },
        value: function (u, v) { return v == null ? "-" : decimal(v, yUnit); }
      };
      if (spec.kind === "step") {
        one.paths = uPlot.paths.stepped({ align: 1 });
        one.fill = s.color + "33";
      }
      return one;
    }));
    var opts = {
      title: spec.title,
      width: width,
      height: spec.height || 260,
      scales: { x: xScale(spec), y: { range: function (u, lo, hi) { return [Math.min(0, lo), hi > 0 ? hi * 1.05 : 1]; } } },
      axes: [
        { label: spec.xLabel, values: xFormat, incrs: spec.xIncrs || undefined },
        { label: spec.yLabel, size: 70, values: function (u, vals) { return vals.map(function (v) { return decimal(v, yUnit); }); } }
      ],
      series: series,
      hooks: {
        draw: [function (u) { markLimits(u, spec, el); record(u, el); }]
      }
    };
    var columns = [spec.x].concat(spec.series.map(function (s) { return s.values; }));
    return new uPlot(opts, columns, el);
  }

  charts.forEach(draw);
  if (charts.length === 0) done();
})();
