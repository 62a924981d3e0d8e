"use strict";
{
    // Expand or collapse an audit log row's changes (htmx loads them on the first click).
    document.addEventListener("click", (event) => {
        const button = event.target.closest(".pgh-expand");
        if (!button) {
            return;
        }
        const row = document.getElementById(button.getAttribute("aria-controls"));
        if (!row) {
            return;
        }
        const expanded = button.getAttribute("aria-expanded") === "true";
        button.setAttribute("aria-expanded", String(!expanded));
        row.hidden = expanded;
    });

    // The filter form's query, as it is sent: empty fields left out.
    const formQuery = (form) => {
        const data = new URLSearchParams();
        for (const [name, value] of new FormData(form)) {
            if (value !== "") {
                data.append(name, value);
            }
        }
        return data.toString();
    };

    // The filters whose results are on screen or on their way; null when another request (a page,
    // a sort, a failure) makes the next submit worth sending even with the same values.
    let asked = null;
    const remember = (form) => {
        asked = form ? { form, query: formQuery(form) } : null;
    };
    document.addEventListener("DOMContentLoaded", () => remember(document.querySelector(".pgh-filters")));
    document.addEventListener("htmx:historyRestore", () => remember(document.querySelector(".pgh-filters")));

    // One request per change of filters: leaving a changed field fires "change" and pressing Enter or
    // Apply fires "submit" for the same values; the second would swap the results again under the
    // user's focus. A different query goes out, and hx-sync lets it replace one still in flight.
    document.addEventListener("htmx:confirm", (event) => {
        const elt = event.detail.elt;
        if (elt.matches && elt.matches(".pgh-filters")) {
            if (asked && asked.form === elt && asked.query === formQuery(elt)) {
                event.preventDefault();
                return;
            }
            remember(elt);
        } else if (event.detail.target && event.detail.target.id === "pgh-results") {
            remember(null);
        }
    });
    // A failed request is worth sending again; one aborted because a newer one replaced it is not
    // the one remembered, so it changes nothing.
    document.addEventListener("htmx:beforeRequest", (event) => {
        if (asked && asked.form === event.detail.elt && !asked.xhr) {
            asked.xhr = event.detail.xhr;
        }
    });
    document.addEventListener("htmx:afterRequest", (event) => {
        if (!event.detail.successful && asked && asked.xhr === event.detail.xhr) {
            remember(null);
        }
    });

    // Focus across a results swap: htmx gives it back to the element with the same id (a row's expand
    // button, a page or sort link); when that element is gone, focus moves to the results region
    // (tabindex="-1", aria-live) instead of falling to the top of the page.
    let focusWasInResults = false;
    document.addEventListener("htmx:beforeSwap", (event) => {
        const target = event.detail.target;
        focusWasInResults = Boolean(target && target.id === "pgh-results" && target.contains(document.activeElement));
    });
    document.addEventListener("htmx:afterSettle", (event) => {
        const target = event.detail.target;
        if (!focusWasInResults || !target || target.id !== "pgh-results") {
            return;
        }
        focusWasInResults = false;
        const active = document.activeElement;
        if (!active || active === document.body || !document.body.contains(active)) {
            target.focus({ preventScroll: true });
        }
    });

    // Keep pushed (shareable) URLs short: drop the filter form's empty fields.
    document.addEventListener("htmx:configRequest", (event) => {
        const form = event.detail.elt;
        const data = event.detail.formData;
        if (!data || !form.matches || !form.matches(".pgh-filters")) {
            return;
        }
        for (const [name, value] of Array.from(data.entries())) {
            if (value === "") {
                data.delete(name);
            }
        }
    });
}
