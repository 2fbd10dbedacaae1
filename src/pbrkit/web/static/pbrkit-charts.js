// Draws each chart of the page from its Vega-Lite spec (in #chart-specs) with the
// locally served Vega scripts. Without scripts the tables under the charts say it all.
(function () {
  var source = document.getElementById('chart-specs')
  if (!source || !window.vegaEmbed) return
  var specs = JSON.parse(source.textContent)
  Object.keys(specs).forEach(function (key) {
    var target = document.getElementById('chart-' + key)
    if (target) window.vegaEmbed(target, specs[key], { actions: false, renderer: 'svg' }).catch(console.error)
  })
})()
