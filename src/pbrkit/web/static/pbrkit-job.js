// Follows a payment run while it is queued or running: polls the API and updates
// the progress bar and message, then reloads the page once the run has ended.
// Without scripts the page's "Check progress" link does the same by hand.
(function () {
  var box = document.querySelector('[data-job-url]')
  if (!box || ['queued', 'running'].indexOf(box.getAttribute('data-job-status')) < 0) return
  var bar = box.querySelector('progress')
  var message = box.querySelector('[data-job-message]')
  function poll () {
    fetch(box.getAttribute('data-job-url'), { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (response) { return response.ok ? response.json() : null })
      .then(function (job) {
        if (job) {
          bar.value = job.progress
          bar.textContent = Math.round(100 * job.progress) + '%'
          message.textContent = job.message
          if (job.status !== 'queued' && job.status !== 'running') { window.location.reload(); return }
        }
        window.setTimeout(poll, 1000)
      })
      .catch(function () { window.setTimeout(poll, 3000) })
  }
  window.setTimeout(poll, 500)
})()
