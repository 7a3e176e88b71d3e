/* CLIP Search: a little progressive enhancement. Every page works without it.
 *
 * - Upload page: drag-and-drop and a file input send each file to the JSON API
 *   (POST /api/images/, or /api/videos/ for a video; session + CSRF header)
 *   with its own progress bar and its error in words, then follow it until it
 *   is indexed (a video with a second bar, from its `progress`).
 * - Gallery and image pages: badges of images and videos still being indexed
 *   update by themselves.
 * - Search page: dropping or choosing an example image searches at once, with
 *   the words and filters typed above; empty fields stay out of search URLs.
 *   Each result's "relevant / not relevant" buttons, and opening a result,
 *   post feedback with the results' query id (POST /api/search/feedback/;
 *   session + CSRF header).
 */
(() => {
  "use strict";

  const ZERO_ID = "00000000-0000-0000-0000-000000000000";
  const MAX_PARALLEL_UPLOADS = 3;
  const POLL_GIVE_UP_AFTER = 200; // polls without news (about a quarter of an hour)
  // What the upload page sends to the videos API; gallery.views decides the same.
  const VIDEO_NAME = /\.(mp4|m4v|mov|webm|mkv)$/i;

  const body = document.body;
  const apiImages = body.dataset.apiImages || "/api/images/";
  const imagePage = (id) => (body.dataset.imagePage || "/images/" + ZERO_ID + "/").replace(ZERO_ID, id);
  const apiVideos = body.dataset.apiVideos || "/api/videos/";
  const videoPage = (id) => (body.dataset.videoPage || "/videos/" + ZERO_ID + "/").replace(ZERO_ID, id);
  const isVideo = (file) =>
    file.type.startsWith("video/") || ((!file.type || file.type === "application/octet-stream") && VIDEO_NAME.test(file.name));
  const percent = (share) => Math.round(Math.min(Math.max(share || 0, 0), 1) * 100);

  const el = (tag, attrs = {}, text = "") => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    if (text) node.textContent = text;
    return node;
  };

  const parseJson = (text) => {
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  };

  /* The API's error shape is {"error": {"code", "message", "detail"?}}. */
  const errorMessage = (body, status) => {
    if (body && body.error && body.error.message) return body.error.message;
    if (status === 413) return "The file is larger than the server accepts.";
    if (status === 401 || status === 403) return "You have been signed out: reload the page and sign in again.";
    return `The upload failed (HTTP ${status}). Try again.`;
  };

  /* Ask for a row of the API at `url` until `settled(row)`: `update(row)` gets each answer
   * that differs from the one before, `done(row)` the last (null: it is gone). Polls slow
   * down to one per `maxDelay` ms; news (a video's progress) restarts the give-up count. */
  const pollRow = (url, { settled, done, update = () => {}, maxDelay = 5000 }) => {
    let tries = 0;
    let quiet = 0;
    let last = "";
    const schedule = () => {
      tries += 1;
      quiet += 1;
      if (quiet <= POLL_GIVE_UP_AFTER) setTimeout(tick, Math.min(400 * tries, maxDelay));
    };
    const tick = () => {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((response) => {
          if (response.status === 404) return done(null);
          if (!response.ok) return schedule();
          return response.json().then((row) => {
            if (settled(row)) return done(row);
            const seen = `${row.status} ${row.progress}`;
            if (seen !== last) {
              last = seen;
              quiet = 0;
              update(row);
            }
            return schedule();
          });
        })
        .catch(schedule);
    };
    schedule();
  };

  /* An image until it is no longer pending. */
  const pollImage = (id, done) => pollRow(`${apiImages}${id}/`, { settled: (image) => image.status !== "pending", done });

  /* A video until it is indexed or failed, with its progress on the way. */
  const pollVideo = (id, update, done) =>
    pollRow(`${apiVideos}${id}/`, {
      settled: (video) => video.status === "indexed" || video.status === "failed",
      done,
      update,
      maxDelay: 2000,
    });

  const indexingText = (row) => (row.status === "indexing" && row.progress ? `Indexing… ${percent(row.progress)}%` : "Indexing…");

  const statusBadge = (row) => {
    if (!row || row.status === "indexed") return null;
    const failed = row.status === "failed";
    const badge = el("span", { class: `badge badge--${failed ? "failed" : "pending"}`, "data-status-badge": "" }, failed ? "Failed" : indexingText(row));
    if (row.error) badge.title = row.error;
    return badge;
  };

  const replaceBadge = (holder, row) => {
    const old = holder.querySelector("[data-status-badge]");
    const badge = statusBadge(row);
    if (old && badge) old.replaceWith(badge);
    else if (old) old.remove();
  };

  /* Gallery tiles and the image page: follow images and videos that are still being indexed. */
  const followPending = () => {
    for (const holder of document.querySelectorAll("[data-poll]")) {
      pollImage(holder.dataset.poll, (image) => {
        holder.removeAttribute("data-poll");
        if (holder.hasAttribute("data-reload-when-indexed")) {
          window.location.reload();
          return;
        }
        replaceBadge(holder, image);
      });
    }
    for (const holder of document.querySelectorAll("[data-poll-video]")) {
      pollVideo(
        holder.dataset.pollVideo,
        (video) => replaceBadge(holder, video),
        (video) => {
          holder.removeAttribute("data-poll-video");
          replaceBadge(holder, video);
        },
      );
    }
  };

  /* A drop zone: a <label> around a file input. `onFiles(FileList)` gets what was dropped. */
  const enhanceDropzone = (zone, onFiles) => {
    const over = (event) => {
      event.preventDefault();
      zone.classList.add("is-dragover");
    };
    zone.addEventListener("dragenter", over);
    zone.addEventListener("dragover", over);
    zone.addEventListener("dragleave", () => zone.classList.remove("is-dragover"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("is-dragover");
      const files = event.dataTransfer && event.dataTransfer.files;
      if (files && files.length) onFiles(files);
    });
  };

  /* Upload page. */
  const enhanceUpload = (form) => {
    const input = form.querySelector("input[type=file]");
    const list = document.getElementById(form.dataset.uploadList);
    const section = document.querySelector("[data-upload-section]");
    const token = form.querySelector("[name=csrfmiddlewaretoken]").value;
    const queue = [];
    let running = 0;

    const setState = (item, state, text) => {
      item.li.dataset.state = state;
      item.status.textContent = text;
    };

    const addItem = (file, video) => {
      const li = el("li", { class: "upload-item", "data-state": "queued" });
      const thumb = el("img", { class: "upload-item__thumb", alt: "", width: "56", height: "56" });
      if (file.type.startsWith("image/")) {
        thumb.src = URL.createObjectURL(file);
        thumb.addEventListener("load", () => URL.revokeObjectURL(thumb.src), { once: true });
      }
      const main = el("div");
      const name = el("div", { class: "upload-item__name" }, file.name);
      const progress = el("progress", { class: "upload-item__upload", max: "100", value: "0", "aria-label": `Upload of ${file.name}` });
      const status = el("div", { class: "upload-item__status" }, "Waiting…");
      const link = el("div", { class: "upload-item__link" });
      main.append(name, progress);
      // A video's second bar: its indexing, which takes a while (the API's `progress`).
      const indexing = video ? el("progress", { class: "upload-item__indexing", max: "100", value: "0", "aria-label": `Indexing of ${file.name}`, hidden: "" }) : null;
      if (indexing) main.append(indexing);
      main.append(status);
      li.append(thumb, main, link);
      list.append(li);
      return { li, thumb, progress, indexing, status, link };
    };

    const showImage = (item, image) => {
      if (!image) setState(item, "error", "This image has been deleted.");
      else if (image.status === "indexed" && image.flagged) setState(item, "indexed", "Indexed, and flagged by moderation: only you can see it until staff review it.");
      else if (image.status === "indexed") setState(item, "indexed", "Indexed: ready to search.");
      else if (image.status === "failed") setState(item, "error", `Indexing failed: ${image.error || "no reason was given"}`);
      else setState(item, "indexing", "Uploaded. Indexing…");
    };

    const uploaded = (item, image) => {
      item.progress.hidden = true;
      item.thumb.src = image.thumbnail_url;
      item.link.append(el("a", { class: "button", href: imagePage(image.id) }, "View"));
      showImage(item, image);
      if (image.status === "pending") pollImage(image.id, (latest) => showImage(item, latest));
    };

    const showVideo = (item, video) => {
      const bar = item.indexing;
      if (!video) {
        bar.hidden = true;
        setState(item, "error", "This video has been deleted.");
        return;
      }
      bar.hidden = video.status === "failed";
      bar.value = video.status === "indexed" ? 100 : percent(video.progress);
      if (video.status === "indexed" && video.flagged) setState(item, "indexed", "Indexed, and flagged by moderation: only you can see it until staff review it.");
      else if (video.status === "indexed") setState(item, "indexed", "Indexed: ready to search.");
      else if (video.status === "failed") setState(item, "error", `Indexing failed: ${video.error || "no reason was given"}`);
      else if (video.status === "indexing") setState(item, "indexing", `Uploaded. Indexing… ${percent(video.progress)}%`);
      else setState(item, "indexing", "Uploaded. Waiting to be indexed…");
    };

    const uploadedVideo = (item, video) => {
      item.progress.hidden = true;
      item.thumb.src = video.poster_url;
      item.link.append(el("a", { class: "button", href: videoPage(video.id) }, "View"));
      showVideo(item, video);
      const show = (latest) => showVideo(item, latest);
      if (video.status === "pending" || video.status === "indexing") pollVideo(video.id, show, show);
    };

    const rejected = (item, body, status) => {
      item.progress.hidden = true;
      setState(item, "error", errorMessage(body, status));
      const error = body && body.error;
      const page = { duplicate_image: imagePage, duplicate_video: videoPage }[error && error.code];
      if (page && error.detail && error.detail.id) {
        item.link.append(el("a", { class: "button", href: page(error.detail.id) }, "See it"));
      }
    };

    const send = (job) => {
      const { file, item, visibility, video } = job;
      const finish = () => {
        running -= 1;
        pump();
      };
      setState(item, "uploading", "Uploading…");
      const xhr = new XMLHttpRequest();
      xhr.open("POST", video ? apiVideos : apiImages);
      xhr.setRequestHeader("X-CSRFToken", token);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (event) => {
        if (!event.lengthComputable) return;
        const sent = percent(event.loaded / event.total);
        item.progress.value = sent;
        setState(item, "uploading", `Uploading… ${sent}%`);
      });
      // Every byte is there; the server probes the video (or decodes the image) before it answers.
      xhr.upload.addEventListener("load", () => setState(item, "uploading", video ? "Uploaded. Checking the video…" : "Uploaded. Checking the image…"));
      xhr.addEventListener("load", () => {
        const body = parseJson(xhr.responseText);
        if (xhr.status === 201 && body) (video ? uploadedVideo : uploaded)(item, body);
        else rejected(item, body, xhr.status);
        finish();
      });
      xhr.addEventListener("error", () => {
        item.progress.hidden = true;
        setState(item, "error", "The upload did not reach the server. Check the connection and try again.");
        finish();
      });
      const data = new FormData();
      data.append("file", file, file.name);
      data.append("visibility", visibility);
      xhr.send(data);
    };

    const pump = () => {
      while (running < MAX_PARALLEL_UPLOADS && queue.length) {
        running += 1;
        send(queue.shift());
      }
    };

    const start = (files) => {
      const visibility = form.elements.visibility.value;
      for (const file of files) {
        const video = isVideo(file);
        queue.push({ file, visibility, video, item: addItem(file, video) });
      }
      section.hidden = false;
      pump();
    };

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (input.files.length) start(input.files);
      input.value = "";
    });
    input.addEventListener("change", () => {
      if (input.files.length) start(input.files);
      input.value = "";
    });
    enhanceDropzone(form.querySelector("[data-dropzone]"), start);
  };

  /* Search page: the example-image form carries the words and filters typed in the search form. */
  const enhanceExampleSearch = (form) => {
    const searchForm = document.getElementById(form.dataset.exampleForm);
    const input = form.querySelector("input[type=file]");
    const zone = form.querySelector("[data-dropzone]");
    const skipped = new Set(["cursor", "like"]);

    form.addEventListener("submit", () => {
      for (const old of form.querySelectorAll("[data-copied]")) old.remove();
      for (const [name, value] of new FormData(searchForm)) {
        if (!skipped.has(name) && typeof value === "string" && value) {
          form.append(el("input", { type: "hidden", name, value, "data-copied": "" }));
        }
      }
      zone.classList.add("is-busy");
      zone.querySelector(".dropzone__title").textContent = "Searching…";
    });
    input.addEventListener("change", () => {
      if (input.files.length) form.requestSubmit();
    });
    enhanceDropzone(zone, (files) => {
      input.files = files;
      form.requestSubmit();
    });
  };

  /* Search results: marks (aria-pressed shows the one saved) and opens, as feedback on the
   * search named by the list's query id. An open is sent with keepalive, so it outlives
   * the page it leaves. */
  const enhanceFeedback = (list) => {
    const tokenInput = document.querySelector("[name=csrfmiddlewaretoken]");
    const { feedback: url, queryId } = list.dataset;
    if (!url || !queryId || !tokenInput) return;
    const send = (item, fields, keepalive = false) =>
      fetch(url, {
        method: "POST",
        credentials: "same-origin",
        keepalive,
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": tokenInput.value },
        body: JSON.stringify({ query_id: queryId, [`${item.dataset.kind}_id`]: item.dataset.id, ...fields }),
      });

    for (const item of list.querySelectorAll("[data-feedback-item]")) {
      const buttons = [...item.querySelectorAll("button[data-relevant]")];
      const status = item.querySelector(".feedback__status");
      for (const button of buttons) {
        button.addEventListener("click", () => {
          item.dataset.state = "saving";
          send(item, { relevant: button.dataset.relevant === "true" })
            .then((response) => {
              if (!response.ok) return response.text().then((text) => Promise.reject(parseJson(text)));
              for (const other of buttons) other.setAttribute("aria-pressed", String(other === button));
              item.dataset.state = "saved";
              status.textContent = "";
              return null;
            })
            .catch((body) => {
              item.dataset.state = "error";
              status.textContent = (body && body.error && body.error.message) || "Not saved: try again.";
            });
        });
      }
      const link = item.closest("li").querySelector("a.tile__link");
      const opened = () => send(item, { opened: true }, true).catch(() => {});
      link.addEventListener("click", opened);
      link.addEventListener("auxclick", (event) => {
        if (event.button === 1) opened();
      });
    }
  };

  /* Searches are GET forms: leave empty fields out, so a bookmarked URL reads well. */
  for (const form of document.querySelectorAll('form[method="get"]')) {
    form.addEventListener("formdata", (event) => {
      for (const [name, value] of [...event.formData]) if (value === "") event.formData.delete(name);
    });
  }

  for (const node of document.querySelectorAll("[data-no-js]")) node.hidden = true;
  for (const node of document.querySelectorAll("[data-js-only]")) node.hidden = false;
  for (const form of document.querySelectorAll("form[data-upload]")) enhanceUpload(form);
  for (const form of document.querySelectorAll("form[data-example-form]")) enhanceExampleSearch(form);
  for (const list of document.querySelectorAll("[data-feedback][data-query-id]")) enhanceFeedback(list);
  followPending();

  if (document.querySelector("[data-dropzone]")) {
    // A file dropped beside a drop zone must not replace the page with the file.
    window.addEventListener("dragover", (event) => event.preventDefault());
    window.addEventListener("drop", (event) => event.preventDefault());
  }
})();
