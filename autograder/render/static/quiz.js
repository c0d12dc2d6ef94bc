// The quiz's front end: native form controls with ARIA roles, wired to the kernel by anywidget.
//
// The kernel sends `spec` (the questions as this learner sees them, rendered to HTML once) and
// `state` (per question: feedback, hints, solution, button labels). This code only presents:
// it sends {event, id, value} messages for Check, Hint and Solution, and the kernel's quiz
// session judges. HTML in `spec` and `state` comes from the kernel's Markdown renderer, which
// escapes raw HTML in quiz text.

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "html") node.innerHTML = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) node.append(child);
  return node;
}

// Ids must be unique in the page, and one widget can be shown in several outputs.
let counter = 0;
function uid() {
  counter += 1;
  return `kcq${Date.now().toString(36)}${counter}`;
}

function buildQuestion(q, prefix, send) {
  const base = `${prefix}-${q.number}`;
  const headingId = `${base}-h`;
  const promptId = `${base}-p`;
  const feedbackId = `${base}-fb`;
  const hintsId = `${base}-hints`;
  const solutionId = `${base}-sol`;
  const card = el("div", {
    class: `kc-question kc-q-${q.id}`,
    role: "group",
    "aria-labelledby": headingId,
    "data-question": q.id,
  });
  card.append(
    el("h4", { id: headingId, class: "kc-heading", text: q.heading }),
    el("div", { id: promptId, class: "kc-prompt", html: q.prompt_html }),
  );

  let read;
  let write;
  const inputs = [];
  if (q.kind === "single" || q.kind === "multiple") {
    // A fieldset groups the choices; the question (heading and prompt) is the group's name.
    const group = el("fieldset", {
      class: "kc-choices",
      role: q.kind === "single" ? "radiogroup" : null,
      "aria-labelledby": `${headingId} ${promptId}`,
    });
    q.choices.forEach((choice, index) => {
      const inputId = `${base}-c${index}`;
      const input = el("input", {
        type: q.kind === "single" ? "radio" : "checkbox",
        id: inputId,
        name: `${base}-choice`,
        value: String(index),
      });
      inputs.push(input);
      group.append(
        el("div", { class: "kc-choice" }, [
          input,
          el("label", { for: inputId, html: choice.label_html }),
        ]),
      );
    });
    card.append(group);
    if (q.kind === "single") {
      read = () => {
        const picked = inputs.findIndex((input) => input.checked);
        return picked < 0 ? null : q.choices[picked].value;
      };
      write = (value) => {
        inputs.forEach((input, i) => (input.checked = q.choices[i].value === value));
      };
    } else {
      read = () => q.choices.filter((_, i) => inputs[i].checked).map((c) => c.value);
      write = (value) => {
        const chosen = new Set(Array.isArray(value) ? value : []);
        inputs.forEach((input, i) => (input.checked = chosen.has(q.choices[i].value)));
      };
    }
  } else {
    const inputId = `${base}-in`;
    const multiline = q.kind === "code" || q.kind === "textarea";
    const input = el(multiline ? "textarea" : "input", {
      id: inputId,
      class: q.kind === "code" ? "kc-input kc-code" : "kc-input",
      type: multiline ? null : "text",
      rows: multiline ? q.rows : null,
      placeholder: q.placeholder || null,
      spellcheck: "false",
      autocomplete: "off",
      "aria-describedby": promptId,
    });
    if (!multiline) {
      // Enter in a one-line answer checks it, as a form's submit would.
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          check();
        }
      });
    }
    inputs.push(input);
    card.append(
      el("div", { class: "kc-field" }, [
        el("label", { for: inputId, class: "kc-input-label", text: q.input_label }),
        input,
      ]),
    );
    read = () => input.value;
    write = (value) => {
      input.value = typeof value === "string" ? value : q.starter || "";
    };
  }

  const checkButton = el("button", {
    type: "button",
    class: "kc-button kc-primary kc-check",
    "aria-describedby": headingId,
    text: "Check",
  });
  const hintButton = el("button", {
    type: "button",
    class: "kc-button kc-hint",
    "aria-expanded": "false",
    "aria-controls": hintsId,
    text: "Hint",
  });
  const solutionButton = el("button", {
    type: "button",
    class: "kc-button kc-solution",
    "aria-expanded": "false",
    "aria-controls": solutionId,
    text: "Show solution",
  });
  function check() {
    send({ event: "check", id: q.id, value: read() });
  }
  checkButton.addEventListener("click", check);
  hintButton.addEventListener("click", () => {
    // aria-disabled rather than disabled: a disabled button would drop the keyboard focus.
    if (hintButton.getAttribute("aria-disabled") !== "true") send({ event: "hint", id: q.id });
  });
  solutionButton.addEventListener("click", () => send({ event: "solution", id: q.id }));
  card.append(el("div", { class: "kc-actions" }, [checkButton, hintButton, solutionButton]));

  // Present, empty, from the start: screen readers announce changes to a live region only
  // when the region was already in the page.
  const feedback = el("div", {
    id: feedbackId,
    class: "kc-feedback",
    role: "status",
    "aria-live": "polite",
    "aria-atomic": "true",
  });
  const hints = el("div", {
    id: hintsId,
    class: "kc-hints",
    role: "region",
    "aria-label": `Hints for ${q.heading.toLowerCase()}`,
    "aria-live": "polite",
    hidden: true,
  });
  const solution = el("div", {
    id: solutionId,
    class: "kc-solution-body",
    role: "region",
    "aria-label": `Solution of ${q.heading.toLowerCase()}`,
    hidden: true,
  });
  card.append(feedback, hints, solution);

  let shownChecks = -1;
  let shownHints = 0;
  function update(state, first) {
    if (first && state.value !== null && state.value !== undefined) write(state.value);
    else if (first && q.kind === "code") write(null);
    if (state.checks !== shownChecks || first) {
      shownChecks = state.checks;
      feedback.className = `kc-feedback${state.outcome ? ` kc-${state.outcome}` : ""}`;
      if (first) feedback.innerHTML = state.feedback_html;
      else {
        // Emptied, then filled on the next frame: the same verdict twice is announced twice.
        feedback.textContent = "";
        requestAnimationFrame(() => (feedback.innerHTML = state.feedback_html));
      }
    }
    checkButton.setAttribute("aria-busy", state.busy ? "true" : "false");
    const rungs = state.hints_html;
    if (rungs.length < shownHints) {
      hints.textContent = "";
      shownHints = 0;
    }
    for (const rung of rungs.slice(shownHints)) {
      hints.append(el("div", { class: "kc-hint-rung", html: rung }));
    }
    shownHints = rungs.length;
    hints.hidden = rungs.length === 0;
    hintButton.setAttribute("aria-expanded", rungs.length ? "true" : "false");
    hintButton.textContent = state.hint_label;
    if (state.hints_done) hintButton.setAttribute("aria-disabled", "true");
    else hintButton.removeAttribute("aria-disabled");
    solution.innerHTML = state.solution_html;
    solution.hidden = !state.solution_open;
    solutionButton.setAttribute("aria-expanded", state.solution_open ? "true" : "false");
    solutionButton.textContent = state.solution_open ? "Hide solution" : "Show solution";
  }
  return { card, update };
}

function render({ model, el: host }) {
  const spec = model.get("spec");
  const prefix = uid();
  const titleId = `${prefix}-title`;
  const root = el("section", {
    class: "kc-quiz quiz",
    "aria-labelledby": titleId,
    // Keys typed in the quiz go to its controls, not to the notebook's command-mode shortcuts
    // (arrow keys move between radio buttons here, not between cells).
    "data-lm-suppress-shortcuts": "true",
  });
  // The notebook also handles keys as they bubble up (an arrow key on the last cell moves the
  // focus to its footer): keys typed in the quiz's controls stay there, except Tab and Escape,
  // which must keep moving the focus and leaving the cell.
  root.addEventListener("keydown", (event) => {
    if (event.key !== "Tab" && event.key !== "Escape") event.stopPropagation();
  });
  root.append(el("h3", { id: titleId, class: "kc-title", text: spec.title }));
  if (spec.notice_html) {
    root.append(el("div", { class: "kc-notice", role: "alert", html: spec.notice_html }));
  }
  const send = (message) => model.send(message);
  const views = {};
  for (const q of spec.questions) {
    views[q.id] = buildQuestion(q, prefix, send);
    root.append(views[q.id].card);
  }
  const summary = el("div", {
    class: "kc-summary quiz-summary",
    role: "status",
    "aria-live": "polite",
    "aria-atomic": "true",
  });
  root.append(summary);
  host.append(root);

  function refresh(first) {
    const state = model.get("state");
    for (const [id, view] of Object.entries(views)) {
      if (state[id]) view.update(state[id], first);
    }
    const text = model.get("summary_html");
    if (summary.innerHTML !== text) summary.innerHTML = text;
  }
  refresh(true);
  const onChange = () => refresh(false);
  model.on("change:state", onChange);
  model.on("change:summary_html", onChange);
  return () => {
    model.off("change:state", onChange);
    model.off("change:summary_html", onChange);
  };
}

export default { render };
