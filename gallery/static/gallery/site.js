/* CLIP Search: a little progressive enhancement. Every page works without it.
 *
 * - Upload page: drag-and-drop and a file input send each file to the JSON API
 *   (POST /api/images/, session + CSRF header) with its own progress bar and
 *   its error in words, then follow it until it is indexed.
 * - Gallery and image pages: badges of images still being indexed update by
 *   themselves.
 * - Search page: dropping or choosing an example image searches at once, with
 *   the words and filters typed above; empty fields stay out of search URLs.
 */
(() => {
  "use strict";

  const ZERO_ID = "00000000-0000-0000-0000-000000000000";
  const MAX_PARALLEL_UPLOADS = 3;
  const POLL_GIVE_UP_AFTER = 200; // polls (about a quarter of an hour)

  const body = document.body;
  const apiImages = body.dataset.apiImages || "/api/images/";
  const imagePage = (id) => (body.dataset.imagePage || "/images/" + ZERO_ID + "/").replace(ZERO_ID, id);

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

  /* Ask for an image until it is no longer pending; `done(image)` (null: it is gone). */
  const pollImage = (id, done) => {
    let tries = 0;
    const schedule = () => {
      tries += 1;
      if (tries <= POLL_GIVE_UP_AFTER) setTimeout(tick, Math.min(400 * tries, 5000));
    };
    const tick = () => {
      fetch(`${apiImages}${id}/`, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((response) => {
          if (response.status === 404) return done(null);
          if (!response.ok) return schedule();
          return response.json().then((image) => (image.status === "pending" ? schedule() : done(image)));
        })
        .catch(schedule);
    };
    schedule();
  };

  const statusBadge = (image) => {
    if (!image || image.status === "indexed") return null;
    const failed = image.status === "failed";
    const badge = el("span", { class: `badge badge--${failed ? "failed" : "pending"}`, "data-status-badge": "" }, failed ? "Failed" : "Indexing…");
    if (image.error) badge.title = image.error;
    return badge;
  };

  /* Gallery tiles and the image page: follow images that are still being indexed. */
  const followPending = () => {
    for (const holder of document.querySelectorAll("[data-poll]")) {
      pollImage(holder.dataset.poll, (image) => {
        holder.removeAttribute("data-poll");
        if (holder.hasAttribute("data-reload-when-indexed")) {
          window.location.reload();
          return;
        }
        const old = holder.querySelector("[data-status-badge]");
        const badge = statusBadge(image);
        if (old && badge) old.replaceWith(badge);
        else if (old) old.remove();
      });
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

    const addItem = (file) => {
      const li = el("li", { class: "upload-item", "data-state": "queued" });
      const thumb = el("img", { class: "upload-item__thumb", alt: "", width: "56", height: "56" });
      if (file.type.startsWith("image/")) {
        thumb.src = URL.createObjectURL(file);
        thumb.addEventListener("load", () => URL.revokeObjectURL(thumb.src), { once: true });
      }
      const main = el("div");
      const name = el("div", { class: "upload-item__name" }, file.name);
      const progress = el("progress", { max: "100", value: "0", "aria-label": `Upload of ${file.name}` });
      const status = el("div", { class: "upload-item__status" }, "Waiting…");
      const link = el("div", { class: "upload-item__link" });
      main.append(name, progress, status);
      li.append(thumb, main, link);
      list.append(li);
      return { li, thumb, progress, status, link };
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

    const rejected = (item, body, status) => {
      item.progress.hidden = true;
      setState(item, "error", errorMessage(body, status));
      const error = body && body.error;
      if (error && error.code === "duplicate_image" && error.detail && error.detail.id) {
        item.link.append(el("a", { class: "button", href: imagePage(error.detail.id) }, "See it"));
      }
    };

    const send = (job) => {
      const { file, item, visibility } = job;
      const finish = () => {
        running -= 1;
        pump();
      };
      setState(item, "uploading", "Uploading…");
      const xhr = new XMLHttpRequest();
      xhr.open("POST", apiImages);
      xhr.setRequestHeader("X-CSRFToken", token);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (event) => {
        if (!event.lengthComputable) return;
        const percent = Math.round((event.loaded / event.total) * 100);
        item.progress.value = percent;
        setState(item, "uploading", `Uploading… ${percent}%`);
      });
      xhr.addEventListener("load", () => {
        const body = parseJson(xhr.responseText);
        if (xhr.status === 201 && body) uploaded(item, body);
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
      for (const file of files) queue.push({ file, visibility, item: addItem(file) });
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
  followPending();

  if (document.querySelector("[data-dropzone]")) {
    // A file dropped beside a drop zone must not replace the page with the file.
    window.addEventListener("dragover", (event) => event.preventDefault());
    window.addEventListener("drop", (event) => event.preventDefault());
  }
})();
