/* slurm-carbon dashboard: charts drawn with uPlot from the page's JSON (id="data"). */
(function () {
  "use strict";
  var COLOURS = ["#1b7837", "#2166ac", "#b2182b", "#e08214", "#762a83", "#4d4d4d"];
  var holder = document.getElementById("data");
  if (!holder) {
    return;
  }
  var data = JSON.parse(holder.textContent);

  function seconds(iso) {
    return Date.parse(iso) / 1000;
  }

  // Times as the tables show them: UTC, 24-hour, whatever the browser's zone.
  function utcDate(ts) {
    return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");
  }
  function iso(ts) {
    return new Date(ts * 1000).toISOString();
  }
  // Midnight ticks read as MM-DD, the year under the first of a year; others as HH:MM,
  // the date under the first of a day.
  function timeLabels(u, splits) {
    return splits.map(function (ts, i) {
      var date = iso(ts).slice(0, 10);
      var previous = i > 0 ? iso(splits[i - 1]).slice(0, 10) : "";
      if (ts % 86400 === 0) {
        return date.slice(5) + (date.slice(0, 4) === previous.slice(0, 4) ? "" : "\n" + date.slice(0, 4));
      }
      return iso(ts).slice(11, 16) + (date === previous ? "" : "\n" + date);
    });
  }
  function timeValue(u, ts) {
    return ts === null ? "--" : iso(ts).slice(0, 16).replace("T", " ") + " UTC";
  }

  // Figures as pages.py's grams() and kwh() show them in the tables.
  function fixed(value, digits) {
    return value.toLocaleString("en-US", {
      minimumFractionDigits: digits, maximumFractionDigits: digits
    });
  }
  function grams(u, value) {
    if (value === null) {
      return "-";
    }
    return Math.abs(value) < 1000 ? fixed(value, 1) + " g" : fixed(value / 1000, 3) + " kg";
  }
  function kwh(u, value) {
    if (value === null) {
      return "-";
    }
    return Math.abs(value) < 1 ? fixed(value * 1000, 2) + " Wh" : fixed(value, 3) + " kWh";
  }

  // The charts drawn, by element id: redrawn when a choice changes, read by the browser tests.
  var charts = {};
  window.slurmCarbonCharts = charts;

  // Carbon intensity and energy hold over each step: drawn as steps, not slopes.
  var STEPS = uPlot.paths.stepped({ align: 1 });

  function draw(id, title, xs, series, axes, stepped) {
    var target = document.getElementById(id);
    if (!target) {
      return;
    }
    if (charts[id]) {
      charts[id].destroy();
      delete charts[id];
    }
    if (xs.length < 2) {
      target.textContent = "Too few points for a chart yet.";
      target.className = "empty";
      return;
    }
    var opts = {
      title: title,
      width: Math.max(320, (target.clientWidth || 800) - 24),
      height: 260,
      tzDate: utcDate,
      series: [{ value: timeValue }].concat(series.map(function (s, i) {
        var shown = {
          label: s.label,
          stroke: COLOURS[i % COLOURS.length],
          width: 2,
          scale: s.scale || "y",
          points: { show: !stepped },
          paths: stepped ? STEPS : undefined,
          spanGaps: false
        };
        if (s.format) {
          shown.value = s.format;
        }
        return shown;
      })),
      axes: [{ values: timeLabels }].concat(axes)
    };
    charts[id] = new uPlot(opts, [xs].concat(series.map(function (s) { return s.values; })), target);
  }

  // CO2e and kWh per day of the groups the select names (the biggest, then "other").
  var choice = document.getElementById("days-group");
  function drawDays() {
    var days = data.over_time.days.map(function (day) { return seconds(day + "T00:00:00Z"); });
    var groups = data.over_time.by[choice.value];
    [["co2e_g", "CO2e per day", "g CO2e", grams], ["facility_kwh", "Energy per day (facility)",
      "kWh", kwh]].forEach(function (measure) {
      draw(
        "chart-days-" + measure[0],
        measure[1] + " by " + choice.value,
        days,
        groups.map(function (g) {
          return { label: g.label, values: g[measure[0]], format: measure[3] };
        }),
        [{ label: measure[2] }]
      );
    });
  }
  if (data.over_time && choice) {
    choice.addEventListener("change", drawDays);
    drawDays();
  }

  if (data.intensity && data.intensity.length) {
    var times = [];
    data.intensity.forEach(function (region) {
      region.ahead.forEach(function (p) {
        var t = seconds(p.time);
        if (times.indexOf(t) < 0) {
          times.push(t);
        }
      });
    });
    times.sort(function (a, b) { return a - b; });
    draw(
      "chart-intensity",
      "Grid carbon intensity, next 24 h (g/kWh)",
      times,
      data.intensity.map(function (region) {
        var byTime = {};
        region.ahead.forEach(function (p) { byTime[seconds(p.time)] = p.ci_g_per_kwh; });
        return {
          label: region.region,
          values: times.map(function (t) { return t in byTime ? byTime[t] : null; })
        };
      }),
      [{ label: "g/kWh" }],
      true
    );
  }

  if (data.timeline) {
    var points = data.timeline;
    // Each value holds from its step's start to its end: the last step's end closes the chart.
    // Energy is drawn as the mean power over its step (W), so steps of any length compare.
    function column(key, toPower) {
      var values = points.map(function (p) {
        if (p[key] === null) {
          return null;
        }
        var span = seconds(p.end) - seconds(p.start);
        return toPower ? (span > 0 ? p[key] * 3600000 / span : null) : p[key];
      });
      return values.concat(values.slice(-1));
    }
    var edges = points.map(function (p) { return seconds(p.start); });
    if (points.length) {
      edges.push(seconds(points[points.length - 1].end));
    }
    draw(
      "chart-timeline",
      "Mean power per step (W) and grid carbon intensity (g/kWh)",
      edges,
      [
        { label: "GPU W", values: column("gpu_kwh", true) },
        { label: "CPU W", values: column("cpu_kwh", true) },
        { label: "DRAM W", values: column("dram_kwh", true) },
        { label: "CI g/kWh", values: column("ci_g_per_kwh", false), scale: "ci" }
      ],
      [{ label: "W" }, { scale: "ci", side: 1, label: "g/kWh", grid: { show: false } }],
      true
    );
  }

  if (data.job && data.job.caps && data.job.caps.length) {
    // The limit in force over time, one step line per GPU (null: every GPU of the job);
    // no line where no cap was decided.
    var caps = data.job.caps;
    var devices = [];
    var ticks = [];
    caps.forEach(function (cap) {
      if (devices.indexOf(cap.device) < 0) {
        devices.push(cap.device);
      }
      [seconds(cap.period_start), seconds(cap.period_end)].forEach(function (t) {
        if (ticks.indexOf(t) < 0) {
          ticks.push(t);
        }
      });
    });
    ticks.sort(function (a, b) { return a - b; });
    draw(
      "chart-caps",
      "GPU power limit in force (W)",
      ticks,
      devices.map(function (device) {
        return {
          label: device === null ? "all its GPUs" : device,
          values: ticks.map(function (t, i) {
            var found = caps.filter(function (cap) {
              return cap.device === device && seconds(cap.period_start) <= t &&
                t < seconds(cap.period_end);
            })[0];
            // The last edge repeats the step before it, so the last period is drawn.
            if (!found && i === ticks.length - 1) {
              found = caps.filter(function (cap) {
                return cap.device === device && seconds(cap.period_end) === t;
              })[0];
            }
            return found ? found.power_limit_w : null;
          })
        };
      }),
      [{ label: "W" }],
      true
    );
  }
})();
