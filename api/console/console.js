// Sign-in (a token kept in sessionStorage) and the hash router.
"use strict";
(function () {
  const { token, setToken } = window.SiyuData;
  const { pages, failed } = window.SiyuPages;
  let root = document.getElementById("page");
  let dispose = null;

  function show() {
    const signedIn = Boolean(token());
    document.getElementById("sign-in").hidden = signedIn;
    document.getElementById("nav").hidden = !signedIn;
    document.getElementById("sign-out").hidden = !signedIn;
    root.hidden = !signedIn;
    if (signedIn) route();
  }

  async function route() {
    if (dispose) { dispose(); dispose = null; }
    const [name, search] = (location.hash.slice(1) || "leaderboard").split("?");
    const render = pages[name] || pages.leaderboard;
    for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.hash === `#${name}`);
    // A fresh section per route: a slower earlier render writes into a detached one.
    const fresh = root.cloneNode(false);
    root.replaceWith(fresh);
    root = fresh;
    root.dataset.page = name;
    root.dataset.state = "loading";
    const target = root;
    try {
      const result = await render(target, new URLSearchParams(search || ""));
      if (typeof result === "function") {
        if (target === root) dispose = result; else result();  // left already: close it
      }
    } catch (error) {
      failed(target, error);
    }
  }

  document.getElementById("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setToken(document.getElementById("token").value.trim());
    document.getElementById("token").value = "";
    show();
  });
  document.getElementById("sign-out").addEventListener("click", () => {
    if (dispose) { dispose(); dispose = null; }
    setToken(null);
    show();
  });
  window.addEventListener("hashchange", () => { if (token()) route(); });
  show();
})();
