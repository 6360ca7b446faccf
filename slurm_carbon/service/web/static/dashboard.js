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

  // Carbon intensity and energy hold over each step: drawn as steps, not slopes.
  var STEPS = uPlot.paths.stepped({ align: 1 });

  function draw(id, title, xs, series, axes, stepped) {
    var target = document.getElementById(id);
    if (!target) {
      return;
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
      series: [{}].concat(series.map(function (s, i) {
        return {
          label: s.label,
          stroke: COLOURS[i % COLOURS.length],
          width: 2,
          scale: s.scale || "y",
          points: { show: !stepped },
          paths: stepped ? STEPS : undefined,
          spanGaps: false
        };
      })),
      axes: [{}].concat(axes)
    };
    new uPlot(opts, [xs].concat(series.map(function (s) { return s.values; })), target);
  }

  if (data.days) {
    var partitions = [];
    data.days.forEach(function (day) {
      day.partitions.forEach(function (g) {
        if (partitions.indexOf(g.key) < 0) {
          partitions.push(g.key);
        }
      });
    });
    draw(
      "chart-days",
      "CO2e per day (g)",
      data.days.map(function (day) { return seconds(day.day + "T00:00:00Z"); }),
      partitions.map(function (name) {
        return {
          label: name,
          values: data.days.map(function (day) {
            var found = day.partitions.filter(function (g) { return g.key === name; })[0];
            return found ? found.co2e_g : 0;
          })
        };
      }),
      [{ label: "g CO2e" }]
    );
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
