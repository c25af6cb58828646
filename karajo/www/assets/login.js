// The sign-in form: posts name and password to the API, then opens the
// dashboard.  URLSearchParams encodes every character, so names and
// passwords holding &, =, %, + or any Unicode arrive as typed.
(function () {
  "use strict";
  const K = window.Karajo;
  const form = document.getElementById("login-form");
  const button = document.getElementById("sign-in");

  async function signIn(event) {
    event.preventDefault();
    K.clearErrors();
    const name = form.elements.name.value;
    const password = form.elements.password.value;
    if (!name || !password) {
      K.showError("Type your user name and password.");
      (name ? form.elements.password : form.elements.name).focus();
      return;
    }
    button.disabled = true;
    try {
      const response = await fetch("/karajo/api/auth/login", {
        method: "POST",
        body: new URLSearchParams({ name, password }),
        credentials: "same-origin",
      });
      if (response.ok) {
        window.location.assign("/karajo/app/");
        return;
      }
      K.showError(`Sign-in refused: ${await K.describeFailure(response)}`);
      form.elements.password.select();
    } catch (error) {
      K.showError(`The server did not answer: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }

  form.addEventListener("submit", signIn);
})();
