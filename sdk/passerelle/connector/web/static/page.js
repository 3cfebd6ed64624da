// "Select every delivery": ticks or clears every box of its table.
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement) || !box.hasAttribute("data-select-all")) return;
  for (const other of box.closest("table").querySelectorAll('tbody input[type="checkbox"]')) {
    other.checked = box.checked;
  }
});
