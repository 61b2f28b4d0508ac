// Dashboard charts, drawn from the numbers the page carries (the table below them
// shows the same numbers to anyone who prefers reading them).
(function () {
  "use strict";
  var source = document.getElementById("dashboard-data");
  if (!source || !window.Chart) {
    return;
  }
  var stats = JSON.parse(source.textContent);
  var Chart = window.Chart;
  Chart.defaults.font.family = window.getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#4f5b6b";
  Chart.defaults.animation = false;

  function shortDay(iso) {
    var parts = iso.split("-");
    return parts[2] + "/" + parts[1];
  }

  var orders = document.getElementById("chart-orders");
  if (orders) {
    new Chart(orders, {
      data: {
        labels: stats.days.map(shortDay),
        datasets: [
          {
            type: "bar",
            label: "Orders",
            data: stats.orders,
            yAxisID: "orders",
            backgroundColor: "#0f6b5c",
            borderRadius: 4,
            order: 2
          },
          {
            type: "line",
            label: "Revenue (" + stats.currency + ")",
            data: stats.revenue,
            yAxisID: "revenue",
            borderColor: "#d97706",
            backgroundColor: "rgba(217, 119, 6, 0.15)",
            fill: true,
            tension: 0.3,
            pointRadius: 2,
            order: 1
          }
        ]
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          orders: { position: "left", beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "Orders" } },
          revenue: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: stats.currency } }
        }
      }
    });
  }

  var reasons = document.getElementById("chart-reasons");
  if (reasons) {
    var labels = Object.keys(stats.reasons);
    new Chart(reasons, {
      type: "bar",
      data: {
        labels: labels,
        datasets: [{
          label: "Rejected orders",
          data: labels.map(function (key) { return stats.reasons[key]; }),
          backgroundColor: ["#b42318", "#d97706", "#6b21a8", "#1e3a8a", "#374151"],
          borderRadius: 4
        }]
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } }
      }
    });
  }
})();
