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
