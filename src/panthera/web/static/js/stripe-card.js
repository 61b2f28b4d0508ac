// Stripe's card element (only when the shop takes cards with Stripe; see payments.py).
// Checkout: Stripe.js draws the card fields in its own frame and turns them into a
// PaymentMethod; the form posts only its id. Order page: a card that asks for 3-D Secure
// is handed to Stripe.js, and the status watcher (site.js) then shows the decision.
(function () {
  "use strict";

  function stripeFor(element) {
    if (typeof window.Stripe !== "function") {
      return null;
    }
    return window.Stripe(element.getAttribute("data-stripe-key"));
  }

  function say(place, message) {
    if (!place) {
      return;
    }
    place.textContent = message || "";
    place.hidden = !message;
  }

  function checkout(holder) {
    var form = holder.closest("form");
    var method = holder.querySelector('input[name="paymentMethod"]');
    var live = holder.querySelector("#f-cardNumber-live");
    var mountPoint = holder.querySelector("#f-cardNumber");
    var stripe = stripeFor(holder);
    if (!stripe) {
      say(live, "The card form could not load. Check your connection and reload the page.");
      return;
    }
    var card = stripe.elements().create("card", { style: { base: { fontSize: "16px" } } });
    card.mount(mountPoint);
    card.on("change", function (event) {
      method.value = ""; // a changed card needs a new PaymentMethod
      say(live, event.error ? event.error.message : "");
    });
    card.on("focus", function () {
      mountPoint.classList.add("focused");
    });
    card.on("blur", function () {
      mountPoint.classList.remove("focused");
    });
    var busy = false;
    form.addEventListener("submit", function (event) {
      if (method.value) {
        return; // made already: post it
      }
      event.preventDefault();
      if (busy) {
        return;
      }
      busy = true;
      var name = form.querySelector('[name="name"]');
      stripe
        .createPaymentMethod({
          type: "card",
          card: card,
          billing_details: { name: name ? name.value : undefined },
        })
        .then(function (result) {
          busy = false;
          if (result.error) {
            say(live, result.error.message);
            return;
          }
          method.value = result.paymentMethod.id;
          form.submit(); // does not fire "submit" again
        })
        .catch(function () {
          busy = false;
          say(live, "The card could not be checked. Please try again.");
        });
    });
  }

  // Each client secret is handed to Stripe.js once, however often the panel is redrawn.
  var handled = {};

  function authenticate() {
    var action = document.querySelector("[data-client-secret]");
    if (!action) {
      return;
    }
    var secret = action.getAttribute("data-client-secret");
    if (handled[secret]) {
      return;
    }
    handled[secret] = true;
    var problem = document.getElementById("payment-action-problem");
    var stripe = stripeFor(action);
    if (!stripe) {
      say(problem, "The card check could not load. Check your connection and reload the page.");
      handled[secret] = false;
      return;
    }
    var next = stripe.handleNextAction
      ? stripe.handleNextAction({ clientSecret: secret })
      : stripe.confirmCardPayment(secret);
    next.then(function (result) {
      if (result.error) {
        say(problem, result.error.message);
      }
    });
  }

  // Messages for browsers without JavaScript (shown as plain HTML: <noscript> is not
  // reliable when scripts are merely blocked); this script running means they are wrong.
  function hideNotes() {
    var notes = document.querySelectorAll("[data-needs-js]");
    for (var i = 0; i < notes.length; i += 1) {
      notes[i].hidden = true;
    }
  }

  var holder = document.querySelector("[data-stripe-card]");
  hideNotes();
  if (holder) {
    checkout(holder);
  }
  authenticate();
  document.addEventListener("panthera:status", function () {
    hideNotes();
    authenticate();
  });
})();
